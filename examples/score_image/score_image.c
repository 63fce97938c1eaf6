/* score_image - score images with a trained run through the public API of
 * the installed library (include/ddad/ddad.h, libddad.so):
 *
 *     score_image runs/mvtec/bottle part1.png part2.png
 *
 * prints one line per image: path, score, normalised score, threshold and
 * verdict. Exit code 0 when every image was scored, else the status's exit
 * code (4 data, 5 I/O...). Built in the tree as ddad-score-example, and
 * outside it against an installed ddad (see CMakeLists.txt here).
 */
#include <stdio.h>
#include <string.h>

#include <ddad.h>

static const char usage[] = "usage: %s RUN_DIR|CHECKPOINT IMAGE...\n"
                            "Scores each IMAGE with the trained run (its threshold.json gives the verdicts).\n"
                            "Exit codes: 0 every image scored, 2 usage, else the failing status's code.\n";

int main(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf(usage, argv[0]);
        return 0;
    }
    if (argc < 3) {
        fprintf(stderr, usage, argv[0]);
        return 2;
    }
    ddad_scorer_t *s = NULL;
    ddad_status_t st = ddad_scorer_open(&s, argv[1], NULL);
    if (st != DDAD_OK) {
        fprintf(stderr, "error: %s\n", ddad_scorer_error());
        return ddad_status_exit_code(st);
    }
    ddad_scorer_calibration_t cal;
    if (!ddad_scorer_has_threshold(s))
        fprintf(stderr, "note: no threshold.json in the run folder (run ddad-eval): no verdicts\n");
    else if (ddad_scorer_calibration(s, &cal) == DDAD_OK) { /* where the threshold came from */
        if (cal.seen_in_training)
            fprintf(stderr, "note: the threshold was fitted on images the model trained on, so it is too low and "
                    "good images will be flagged (%s)\n", cal.source);
        else if (cal.optimistic)
            fprintf(stderr, "note: the threshold was tuned on the labelled test split, so what it flagged there "
                    "is optimistic (%s)\n", cal.source);
    }
    int rc = 0;
    for (int i = 2; i < argc; i++) {
        ddad_scorer_result_t r;
        st = ddad_scorer_score_file(s, argv[i], &r);
        if (st != DDAD_OK) {
            fprintf(stderr, "error: %s\n", ddad_scorer_error());
            rc = ddad_status_exit_code(st);
            continue;
        }
        printf("%s\tscore %.6f\tnormalized %.4f\tthreshold %.6f\t%s\n", argv[i], r.score, r.normalized, r.threshold,
               !ddad_scorer_has_threshold(s) ? "unknown" : r.is_anomalous ? "ANOMALOUS" : "ok");
        ddad_scorer_result_free(&r);
    }
    ddad_scorer_close(s);
    return rc;
}
