/* ddad-train - entry point (filled in by the training/evaluation modules). */
#include <stdio.h>
#include <string.h>

#include "ddad_version.h"

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--version")) {
            printf("ddad-train %s (%s)\n", DDAD_VERSION, DDAD_GIT_REVISION);
            return 0;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: ddad-train CONFIG [options]\n");
            return 0;
        }
    }
    fprintf(stderr, "usage: ddad-train CONFIG [options] (see --help)\n");
    return 2;
}
