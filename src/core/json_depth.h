/* A linear pre-scan that bounds JSON nesting before a parser sees the text. Tokenizers whose
 * work per closing bracket grows with the depth (jsmn walks parent links) turn 200 KB of '['
 * into seconds of CPU; recursive parsers turn it into stack depth. Scanning first costs one
 * pass over the bytes and refuses such input at the first bracket that is one level too deep,
 * whatever follows it. */
#ifndef IOTAD_CORE_JSON_DEPTH_H
#define IOTAD_CORE_JSON_DEPTH_H

#include <stddef.h>

/* 0 when no '[' or '{' outside strings in buf[0..len) opens more than max_depth levels; else
 * -1 with *offset (if not NULL) at the bracket that opens level max_depth + 1. Strings are
 * skipped with their escapes; nothing else is validated (that is the parser's job), so the
 * answer for malformed text is only about its brackets. */
int json_depth_check(const char *buf, size_t len, int max_depth, size_t *offset);

#endif
