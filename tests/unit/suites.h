/* suites.h: one Check suite per core module; main.c runs them all. */
#ifndef PAYRUN_TEST_SUITES_H
#define PAYRUN_TEST_SUITES_H

#include <check.h>

Suite *money_suite(void);
Suite *config_suite(void);
Suite *state_suite(void);
Suite *audit_suite(void);
Suite *store_suite(void);
Suite *loader_suite(void);
Suite *commission_suite(void);
Suite *linesort_suite(void);

/* Directory of tests/fixtures in the source tree, and of the fixture
 * plugins in the build tree; set by CMake. */
#ifndef FIXTURES_DIR
#error "FIXTURES_DIR must be defined by the build"
#endif

#endif
