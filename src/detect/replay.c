/* Placeholder: the detection engine replaces this. */
#include "detect/replay.h"
#include <stdio.h>
int det_replay_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "iotad replay: not implemented yet\n");
    return 2;
}
