/*
 * test_state.c: the payout state machine. Every (state, move) pair is
 * checked against the table written out independently here from SPEC
 * section 2, so a wrong entry in state.c fails a named case.
 */
#include <string.h>

#include "state.h"
#include "suites.h"

/* The allowed moves, spelled out as SPEC section 2 draws them. */
static const struct {
    payout_status from;
    payout_move move;
    payout_status to;
} allowed[] = {
    {STATUS_PENDING_APPROVAL, MOVE_APPROVE, STATUS_APPROVED},
    {STATUS_PENDING_APPROVAL, MOVE_REJECT, STATUS_REJECTED},
    {STATUS_PENDING_APPROVAL, MOVE_EDIT, STATUS_PENDING_APPROVAL},
    {STATUS_PENDING_APPROVAL, MOVE_DELETE, STATUS_PENDING_APPROVAL},
    {STATUS_APPROVED, MOVE_MARK_PROCESSING, STATUS_PROCESSING},
    {STATUS_APPROVED, MOVE_MARK_PAID, STATUS_PAID},
    {STATUS_PROCESSING, MOVE_MARK_PAID, STATUS_PAID},
    {STATUS_PROCESSING, MOVE_MARK_FAILED, STATUS_FAILED},
    {STATUS_FAILED, MOVE_RETRY, STATUS_APPROVED},
};

START_TEST(every_pair_matches_the_spec)
{
    int n_allowed = 0;

    for (int f = 0; f < STATUS__COUNT; f++) {
        for (int m = 0; m < MOVE__COUNT; m++) {
            int expect = -1;
            payout_status to = STATUS__COUNT;
            pr_err err = {0};
            for (size_t k = 0; k < sizeof(allowed) / sizeof(allowed[0]); k++)
                if (allowed[k].from == (payout_status)f && allowed[k].move == (payout_move)m)
                    expect = (int)allowed[k].to;
            int rc = state_move("po_x", (payout_status)f, (payout_move)m, &to, &err);
            if (expect >= 0) {
                ck_assert_msg(rc == 0, "%s -> %s refused: %s", status_name(f), move_name(m),
                              err.msg);
                ck_assert_int_eq((int)to, expect);
                n_allowed++;
            } else {
                ck_assert_msg(rc == -1, "%s -> %s allowed", status_name(f), move_name(m));
                ck_assert_int_eq(err.code, EXIT_DATAERR);
                /* The refusal names payout, current state and the move. */
                ck_assert_ptr_nonnull(strstr(err.msg, "po_x"));
                ck_assert_ptr_nonnull(strstr(err.msg, status_name(f)));
                ck_assert_ptr_nonnull(strstr(err.msg, move_name(m)));
            }
        }
    }
    ck_assert_int_eq(n_allowed, 9);
}
END_TEST

START_TEST(final_states_say_so)
{
    payout_status to;
    pr_err err = {0};

    ck_assert_int_eq(state_move("po_1", STATUS_PAID, MOVE_MARK_FAILED, &to, &err), -1);
    ck_assert_str_eq(err.msg, "payout \"po_1\" is paid: cannot mark_failed it");
    ck_assert_ptr_nonnull(strstr(err.hint, "final"));
    ck_assert_int_eq(state_move("po_1", STATUS_APPROVED, MOVE_EDIT, &to, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.hint, "only while pending_approval"));
    ck_assert(status_is_final(STATUS_REJECTED));
    ck_assert(!status_is_final(STATUS_FAILED));
}
END_TEST

START_TEST(names_round_trip)
{
    for (int s = 0; s < STATUS__COUNT; s++) {
        payout_status back;
        ck_assert_int_eq(status_parse(status_name(s), &back), 0);
        ck_assert_int_eq((int)back, s);
    }
    for (int m = 0; m < MOVE__COUNT; m++) {
        payout_move back;
        ck_assert_int_eq(move_parse(move_name(m), &back), 0);
        ck_assert_int_eq((int)back, m);
    }
    payout_status s;
    ck_assert_int_eq(status_parse("Paid", &s), -1);
    ck_assert_str_eq(move_action(MOVE_APPROVE), "payout.approved");
    ck_assert_str_eq(move_action(MOVE_DELETE), "payout.deleted");
}
END_TEST

Suite *state_suite(void)
{
    Suite *s = suite_create("state");
    TCase *tc = tcase_create("moves");

    tcase_add_test(tc, every_pair_matches_the_spec);
    tcase_add_test(tc, final_states_say_so);
    tcase_add_test(tc, names_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
