/* iotad entry point (placeholder until the server core lands). */
#include <stdio.h>
int main(void) { puts("iotad"); return 0; }
