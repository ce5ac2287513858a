#!/bin/sh
# Embeds sql/NNN_name.sql into a C array so the server is one binary.
set -e
echo '#include "../store/migrate.h"'
echo 'const struct migration cairn_migrations[] = {'
for f in "$@"; do
    base=$(basename "$f" .sql)
    ver=$(echo "$base" | sed 's/_.*//; s/^0*//')
    printf '    { %s, "%s",\n' "$ver" "$base"
    sed 's/\\/\\\\/g; s/"/\\"/g; s/^/      "/; s/$/\\n"/' "$f"
    echo '    },'
done
echo '};'
echo "const int cairn_migrations_count = $#;"
