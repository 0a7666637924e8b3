/*
 * cli.h: the payrun command line. Parses arguments, loads the config,
 * checks the actor's role, and calls into the core; every error leaves as
 * one line on stderr ("payrun: what failed" plus "hint: what to do") and a
 * sysexits exit code.
 */
#ifndef PAYRUN_CLI_H
#define PAYRUN_CLI_H

int cli_main(int argc, char **argv);

#endif
