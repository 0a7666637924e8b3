/* main.c: the payrun binary's entry point; all work is in cli.c. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "error.h"

int main(int argc, char **argv)
{
    int rc = cli_main(argc, argv);

    /* Standard output is buffered, so a full disk or a failing device
     * shows only when it is flushed. A command that did its work but whose
     * report was lost must not exit 0 as if all was well. (A command that
     * failed has already said why on stderr and exits non-zero.) */
    errno = 0;
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc == EXIT_OK) {
        fprintf(stderr, "payrun: cannot write to standard output: %s\n",
                errno ? strerror(errno) : "an earlier write failed (I/O error)");
        fprintf(stderr, "hint: the command itself completed, but what it printed was lost; "
                        "check the file or device standard output goes to\n");
        rc = EXIT_IOERR;
    }
    return rc;
}
