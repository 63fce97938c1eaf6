/* ddad-vis - figures of a trained run: the paper's Figure 7 (gradient
 * denoising), the anomaly-map figure and a contact sheet.
 *
 *     ddad-vis configs/demo.yaml                         4 anomalous test images
 *     ddad-vis configs/bottle.yaml --image datasets/mvtec/bottle/test/crack/003.png
 *     ddad-vis configs/demo.yaml --all-test --figures maps,sheet --out figs
 *
 * Per image it writes to the output folder (default <run dir>/figures):
 *   fig7_<category>_<defect>_<stem>.png   ground truth, input, the recorded
 *       rounds of the gradient denoising (core/nn/recon.h), the final
 *       reconstruction and, for the synthetic data set, the defect-free source;
 *   maps_<category>_<defect>_<stem>.png   input, ground truth, the combined
 *       anomaly map with its scale bar, the overlay on the input (ground truth
 *       outlined), and per timestep the standardised KL map and the feature
 *       map, each with a scale bar (the scorer of core/nn/score.h);
 * and contact_sheet.png, one row per image. Heatmaps use a perceptual colour
 * map (viridis by default). Random backbone weights are named in the titles.
 * Progress goes to stderr; the list of written files to stdout.
 *
 * Built twice (core/runtime.h): bin/ddad-vis, without libtorch, answers
 * --help, --version, --print-config and --print-run-dir and starts
 * libexec/ddad/ddad-vis (adding vis_run.c, the figures) for the rest.
 */
#include <stdio.h>

#include "cli.h"
#include "config.h"
#include "runtime.h"
#include "vis.h"

int main(int argc, char **argv)
{
    ddad_runtime_reexec(argv);
    vis_args_t args;
    int rc = vis_parse_args(argc, argv, &args);
    if (rc != DDAD_CLI_CONTINUE)
        return rc;
    ddad_config_t cfg;
    ddad_status_t st = ddad_cli_load_config(&args.cli, args.config, &cfg);
    if (st != DDAD_OK)
        return vis_fail_exit(st, "config");
    if (args.cli.print_config)
        return ddad_cli_print_config(&cfg);
    if (args.print_run_dir) {
        char run_dir[DDAD_CONFIG_PATH_MAX];
        if ((st = ddad_config_run_dir(&cfg, run_dir, sizeof run_dir)))
            return vis_fail_exit(st, "run folder");
        printf("%s\n", run_dir);
        return 0;
    }
#ifdef DDAD_FRONT_END
    return ddad_runtime_exec_model(argv);
#else
    return vis_run(&args, &cfg);
#endif
}
