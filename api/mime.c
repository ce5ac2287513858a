/* The Content-Type of a downloaded artifact, exactly as MLflow's server picks
 * it (mlflow/utils/mime_type_utils.py _guess_mime_type): a name in MLflow's
 * list of text extensions is "text/plain" (no charset); anything else goes
 * through Python's mimetypes.guess_type, i.e. Python 3.11's built-in table
 * overridden by the host's mime.types files (Debian: /etc/mime.types from
 * media-types), read once; unknown is application/octet-stream. */
#include "mime.h"
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ext_type {
    const char *ext;    /* without the dot */
    const char *type;
};

/* mimetypes._types_map_default of Python 3.11 (data, not code) */
static const struct ext_type builtin[] = {
    { "3g2", "audio/3gpp2" },
    { "3gp", "audio/3gpp" },
    { "3gpp", "audio/3gpp" },
    { "3gpp2", "audio/3gpp2" },
    { "a", "application/octet-stream" },
    { "aac", "audio/aac" },
    { "adts", "audio/aac" },
    { "ai", "application/postscript" },
    { "aif", "audio/x-aiff" },
    { "aifc", "audio/x-aiff" },
    { "aiff", "audio/x-aiff" },
    { "ass", "audio/aac" },
    { "au", "audio/basic" },
    { "avi", "video/x-msvideo" },
    { "avif", "image/avif" },
    { "bat", "text/plain" },
    { "bcpio", "application/x-bcpio" },
    { "bin", "application/octet-stream" },
    { "bmp", "image/bmp" },
    { "c", "text/plain" },
    { "cdf", "application/x-netcdf" },
    { "cpio", "application/x-cpio" },
    { "csh", "application/x-csh" },
    { "css", "text/css" },
    { "csv", "text/csv" },
    { "dll", "application/octet-stream" },
    { "doc", "application/msword" },
    { "dot", "application/msword" },
    { "dvi", "application/x-dvi" },
    { "eml", "message/rfc822" },
    { "eps", "application/postscript" },
    { "etx", "text/x-setext" },
    { "exe", "application/octet-stream" },
    { "gif", "image/gif" },
    { "gtar", "application/x-gtar" },
    { "h", "text/plain" },
    { "h5", "application/x-hdf5" },
    { "hdf", "application/x-hdf" },
    { "heic", "image/heic" },
    { "heif", "image/heif" },
    { "htm", "text/html" },
    { "html", "text/html" },
    { "ico", "image/vnd.microsoft.icon" },
    { "ief", "image/ief" },
    { "jpe", "image/jpeg" },
    { "jpeg", "image/jpeg" },
    { "jpg", "image/jpeg" },
    { "js", "application/javascript" },
    { "json", "application/json" },
    { "ksh", "text/plain" },
    { "latex", "application/x-latex" },
    { "loas", "audio/aac" },
    { "m1v", "video/mpeg" },
    { "m3u", "application/vnd.apple.mpegurl" },
    { "m3u8", "application/vnd.apple.mpegurl" },
    { "man", "application/x-troff-man" },
    { "me", "application/x-troff-me" },
    { "mht", "message/rfc822" },
    { "mhtml", "message/rfc822" },
    { "mif", "application/x-mif" },
    { "mjs", "application/javascript" },
    { "mov", "video/quicktime" },
    { "movie", "video/x-sgi-movie" },
    { "mp2", "audio/mpeg" },
    { "mp3", "audio/mpeg" },
    { "mp4", "video/mp4" },
    { "mpa", "video/mpeg" },
    { "mpe", "video/mpeg" },
    { "mpeg", "video/mpeg" },
    { "mpg", "video/mpeg" },
    { "ms", "application/x-troff-ms" },
    { "n3", "text/n3" },
    { "nc", "application/x-netcdf" },
    { "nq", "application/n-quads" },
    { "nt", "application/n-triples" },
    { "nws", "message/rfc822" },
    { "o", "application/octet-stream" },
    { "obj", "application/octet-stream" },
    { "oda", "application/oda" },
    { "opus", "audio/opus" },
    { "p12", "application/x-pkcs12" },
    { "p7c", "application/pkcs7-mime" },
    { "pbm", "image/x-portable-bitmap" },
    { "pdf", "application/pdf" },
    { "pfx", "application/x-pkcs12" },
    { "pgm", "image/x-portable-graymap" },
    { "pl", "text/plain" },
    { "png", "image/png" },
    { "pnm", "image/x-portable-anymap" },
    { "pot", "application/vnd.ms-powerpoint" },
    { "ppa", "application/vnd.ms-powerpoint" },
    { "ppm", "image/x-portable-pixmap" },
    { "pps", "application/vnd.ms-powerpoint" },
    { "ppt", "application/vnd.ms-powerpoint" },
    { "ps", "application/postscript" },
    { "pwz", "application/vnd.ms-powerpoint" },
    { "py", "text/x-python" },
    { "pyc", "application/x-python-code" },
    { "pyo", "application/x-python-code" },
    { "qt", "video/quicktime" },
    { "ra", "audio/x-pn-realaudio" },
    { "ram", "application/x-pn-realaudio" },
    { "ras", "image/x-cmu-raster" },
    { "rdf", "application/xml" },
    { "rgb", "image/x-rgb" },
    { "roff", "application/x-troff" },
    { "rtx", "text/richtext" },
    { "sgm", "text/x-sgml" },
    { "sgml", "text/x-sgml" },
    { "sh", "application/x-sh" },
    { "shar", "application/x-shar" },
    { "snd", "audio/basic" },
    { "so", "application/octet-stream" },
    { "src", "application/x-wais-source" },
    { "srt", "text/plain" },
    { "sv4cpio", "application/x-sv4cpio" },
    { "sv4crc", "application/x-sv4crc" },
    { "svg", "image/svg+xml" },
    { "swf", "application/x-shockwave-flash" },
    { "t", "application/x-troff" },
    { "tar", "application/x-tar" },
    { "tcl", "application/x-tcl" },
    { "tex", "application/x-tex" },
    { "texi", "application/x-texinfo" },
    { "texinfo", "application/x-texinfo" },
    { "tif", "image/tiff" },
    { "tiff", "image/tiff" },
    { "tr", "application/x-troff" },
    { "trig", "application/trig" },
    { "tsv", "text/tab-separated-values" },
    { "txt", "text/plain" },
    { "ustar", "application/x-ustar" },
    { "vcf", "text/x-vcard" },
    { "vtt", "text/vtt" },
    { "wasm", "application/wasm" },
    { "wav", "audio/x-wav" },
    { "webm", "video/webm" },
    { "webmanifest", "application/manifest+json" },
    { "wiz", "application/msword" },
    { "wsdl", "application/xml" },
    { "xbm", "image/x-xbitmap" },
    { "xlb", "application/vnd.ms-excel" },
    { "xls", "application/vnd.ms-excel" },
    { "xml", "text/xml" },
    { "xpdl", "application/xml" },
    { "xpm", "image/x-xpixmap" },
    { "xsl", "application/xml" },
    { "xwd", "image/x-xwindowdump" },
    { "zip", "application/zip" },
};

/* MLflow's get_text_extensions(), with MLMODEL_FILE_NAME and
 * MLPROJECT_FILE_NAME ("MLmodel", "mlproject": MLflow spells the project
 * file in lower case here, so "MLproject" is binary to it) */
static const char *const text_exts[] = {
    "txt", "log", "err", "cfg", "conf", "cnf", "cf", "ini", "properties", "prop", "hocon", "toml", "yaml",
    "yml", "xml", "json", "js", "py", "py3", "csv", "tsv", "md", "rst", "ipynb", "MLmodel", "mlproject",
};

/* Python's suffix_map and encodings_map */
static const struct ext_type suffixes[] = {
    { "svgz", ".svg.gz" }, { "tgz", ".tar.gz" }, { "taz", ".tar.gz" }, { "tz", ".tar.gz" },
    { "tbz2", ".tar.bz2" }, { "txz", ".tar.xz" },
};
static const char *const encodings[] = { "gz", "Z", "bz2", "xz", "br" };

/* mimetypes.knownfiles, read in this order (a later entry wins) */
static const char *const known_files[] = {
    "/etc/mime.types", "/etc/httpd/mime.types", "/etc/httpd/conf/mime.types", "/etc/apache/mime.types",
    "/etc/apache2/mime.types", "/usr/local/etc/httpd/conf/mime.types", "/usr/local/lib/netscape/mime.types",
    "/usr/local/etc/httpd/conf/mime.types", "/usr/local/etc/mime.types",
};

#define MAX_LOADED 20000    /* /etc/mime.types has ~2,000 extensions */

static struct ext_type *loaded;   /* lives as long as the process */
static size_t n_loaded;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[4096];
    while (n_loaded < MAX_LOADED && fgets(line, sizeof line, f)) {
        line[strcspn(line, "#\r\n")] = '\0';
        char *save = NULL, *type = strtok_r(line, " \t", &save);
        if (!type)
            continue;
        char *type_copy = NULL;
        for (char *ext; n_loaded < MAX_LOADED && (ext = strtok_r(NULL, " \t", &save)); ) {
            if (!type_copy && !(type_copy = strdup(type)))
                break;
            char *ext_copy = strdup(ext);
            if (!ext_copy)
                break;
            loaded[n_loaded++] = (struct ext_type){ ext_copy, type_copy };
        }
    }
    fclose(f);
}

static void load_all(void)
{
    loaded = calloc(MAX_LOADED, sizeof *loaded);
    if (!loaded)
        return;
    for (size_t i = 0; i < sizeof known_files / sizeof *known_files; i++)
        load_file(known_files[i]);
}

static const char *lookup(const char *ext, size_t len)
{
    for (size_t i = n_loaded; i-- > 0; )
        if (strlen(loaded[i].ext) == len && !strncmp(loaded[i].ext, ext, len))
            return loaded[i].type;
    for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++)
        if (strlen(builtin[i].ext) == len && !strncmp(builtin[i].ext, ext, len))
            return builtin[i].type;
    return NULL;
}

/* posixpath.splitext: the extension (after the last dot) of the last
 * component, ignoring leading dots; NULL when there is none */
static const char *ext_of(const char *name, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++)
        if (name[i] == '/')
            start = i + 1;
    size_t lead = start;
    while (lead < len && name[lead] == '.')
        lead++;
    for (size_t i = len; i-- > lead; )
        if (name[i] == '.')
            return name + i;
    return NULL;
}

/* mimetypes.guess_type(name)[0] (strict) */
static const char *python_guess(const char *name)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", name);
    size_t len = strlen(buf);
    const char *dot = ext_of(buf, len);
    for (int guard = 0; dot && guard < 8; guard++) {
        size_t i = 0;
        while (i < sizeof suffixes / sizeof *suffixes && strcmp(dot + 1, suffixes[i].ext))
            i++;
        if (i == sizeof suffixes / sizeof *suffixes)
            break;
        len = (size_t)(dot - buf);
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s", suffixes[i].type);
        if (len >= sizeof buf)
            return NULL;
        dot = ext_of(buf, len);
    }
    for (size_t i = 0; dot && i < sizeof encodings / sizeof *encodings; i++)
        if (!strcmp(dot + 1, encodings[i])) {
            len = (size_t)(dot - buf);
            buf[len] = '\0';
            dot = ext_of(buf, len);
            break;
        }
    if (!dot)
        return NULL;
    size_t elen = len - (size_t)(dot - buf) - 1;
    const char *t = lookup(dot + 1, elen);
    if (t)
        return t;
    char lower[sizeof buf];
    for (size_t i = 0; i < elen; i++)
        lower[i] = (char)tolower((unsigned char)dot[1 + i]);
    return lookup(lower, elen);
}

const char *mime_guess(const char *name)
{
    pthread_once(&load_once, load_all);
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    const char *dot = ext_of(base, strlen(base));
    const char *ext = dot ? dot + 1 : base;
    if (dot && !*ext)
        ext = base;     /* "name." : MLflow's extension is empty, so it looks at the name */
    for (size_t i = 0; i < sizeof text_exts / sizeof *text_exts; i++)
        if (!strcmp(ext, text_exts[i]))
            return "text/plain";
    const char *t = python_guess(base);
    return t ? t : "application/octet-stream";
}
