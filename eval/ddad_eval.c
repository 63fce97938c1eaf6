/* ddad-eval - entry point (filled in by the training/evaluation modules). */
#include <stdio.h>
#include <string.h>

#include "ddad_version.h"

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--version")) {
            printf("ddad-eval %s (%s)\n", DDAD_VERSION, DDAD_GIT_REVISION);
            return 0;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: ddad-eval CONFIG [options]\n");
            return 0;
        }
    }
    fprintf(stderr, "usage: ddad-eval CONFIG [options] (see --help)\n");
    return 2;
}
