/* vis/vis_args.c - the command line of ddad-vis (see vis.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vis.h"

static const char *usage_text =
    "usage: ddad-vis CONFIG [options]\n"
    "\n"
    "Figures of a trained run: Figure 7 (gradient denoising), anomaly maps, a contact sheet.\n"
    "\n"
    "options:\n"
    "  --set KEY=VALUE     override a config key (repeatable)\n"
    "  --image PATH        one image (a test image of the data set, or any image file)\n"
    "  --all-test          every test image of the run's categories\n"
    "  --count N           the first N anomalous test images of the first category (default 4;\n"
    "                      good ones fill up when there are fewer anomalous)\n"
    "  --figures LIST      comma-separated: fig7, maps, sheet (default all three)\n"
    "  --out DIR           output folder (default <run dir>/figures)\n"
    "  --checkpoint PATH   checkpoint to load (default the latest of the run)\n"
    "  --device D          cpu, cuda or cuda:N (overrides the config's device)\n"
    "  --colormap NAME     viridis (default) or inferno\n"
    "  --print-run-dir     print the run folder of CONFIG (after --set) and exit\n"
    "  --print-config      print the resolved configuration (YAML) and exit\n"
    "  --help, --version\n"
    "\n"
    "Data errors (4) include a missing run, checkpoint, data set or image.\n";


#define usage_error(...) ddad_cli_usage_error(&a->cli, __VA_ARGS__)

/* DDAD_CLI_CONTINUE, or the exit code to return now. */
int vis_parse_args(int argc, char **argv, vis_args_t *a)
{
    memset(a, 0, sizeof *a);
    a->cli = ddad_cli_init("ddad-vis", usage_text);
    a->count = 4;
    a->fig7 = a->maps = a->sheet = true;
    a->cm = DDAD_COLORMAP_VIRIDIS;
    int selectors = 0;
    static const char *const with_value[] = {"--image", "--count", "--figures", "--out", "--checkpoint", "--colormap",
                                             NULL};
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v;
        int r = ddad_cli_next(&a->cli, with_value, argc, argv, &i, &v);
        if (r == DDAD_CLI_EXIT)
            return a->cli.exit_code;
        if (r == DDAD_CLI_HANDLED)
            continue;
        long count;
        if (!strcmp(s, "--print-run-dir")) {
            a->print_run_dir = true;
        } else if (!strcmp(s, "--all-test")) {
            a->all_test = true;
            selectors++;
        } else if (!strcmp(s, "--image")) {
            a->image = v;
            selectors++;
        } else if (!strcmp(s, "--count")) {
            if (ddad_cli_long(&a->cli, s, v, 1, 100000, &count))
                return 2;
            a->count = (int)count;
            selectors++;
        } else if (!strcmp(s, "--figures")) {
            a->fig7 = a->maps = a->sheet = false;
            char buf[256];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
                if (!strcmp(tok, "fig7"))
                    a->fig7 = true;
                else if (!strcmp(tok, "maps"))
                    a->maps = true;
                else if (!strcmp(tok, "sheet"))
                    a->sheet = true;
                else
                    return usage_error("--figures: unknown figure \"%s\" (fig7, maps, sheet)", tok);
            }
            if (!a->fig7 && !a->maps && !a->sheet)
                return usage_error("--figures %s: no figure chosen", v);
        } else if (!strcmp(s, "--out")) {
            a->out = v;
        } else if (!strcmp(s, "--checkpoint")) {
            a->checkpoint = v;
        } else if (!strcmp(s, "--colormap")) {
            if (ddad_colormap_parse(v, &a->cm) != 0)
                return usage_error("--colormap %s: use viridis or inferno", v);
        } else if (s[0] == '-' && s[1]) {
            return usage_error("unknown option %s", s);
        } else if (!a->config) {
            a->config = s;
        } else {
            return usage_error("unexpected argument %s (one CONFIG only)", s);
        }
    }
    if (!a->config)
        return usage_error("%s", "missing CONFIG");
    if (selectors > 1)
        return usage_error("%s", "--image, --all-test and --count are alternatives: give one");
    return -1;
}

int vis_fail_exit(ddad_status_t st, const char *what)
{
    fprintf(stderr, "ddad-vis: %s%s%s\n", what ? what : "", what ? ": " : "", ddad_last_error());
    return ddad_status_exit_code(st);
}
