/*
 * main.c: runs every unit suite in one Check runner, so one summary line
 * ("100%: Checks: N, Failures: 0, Errors: 0") covers the whole core.
 * `unit_tests SUITE` runs just one suite by name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"

int main(int argc, char **argv)
{
    Suite *(*all[])(void) = {money_suite, config_suite, state_suite,
                             audit_suite, store_suite, loader_suite, commission_suite,
                             linesort_suite};
    SRunner *sr = NULL;
    int failed;

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        Suite *s = all[i]();
        if (sr == NULL)
            sr = srunner_create(s);
        else
            srunner_add_suite(sr, s);
    }
    srunner_run(sr, argc > 1 ? argv[1] : NULL, NULL, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
