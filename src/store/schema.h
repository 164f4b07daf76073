/* The versioned list of schema migrations applied by db_migrate. Append only: never edit
 * a released migration, add a new one. */
#ifndef IOTAD_STORE_SCHEMA_H
#define IOTAD_STORE_SCHEMA_H
#include <stddef.h>
typedef struct {
    const char *name;
    const char *sql;
} schema_migration;
const schema_migration *schema_migrations(size_t *count);
#endif
