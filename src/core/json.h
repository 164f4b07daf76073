/* Small cJSON getters shared by every layer. */
#ifndef IOTAD_CORE_JSON_H
#define IOTAD_CORE_JSON_H

#include <cjson/cJSON.h>

/* The string member key of obj, or NULL (missing, not a string, obj NULL). */
const char *json_str(const cJSON *obj, const char *key);

#endif
