/* `iotad replay`: feeds CSV files (NAB or SKAB format) through the detection pipeline. */
#ifndef IOTAD_DETECT_REPLAY_H
#define IOTAD_DETECT_REPLAY_H
/* argv[0] is "replay". Returns a process exit code. */
int det_replay_main(int argc, char **argv);
#endif
