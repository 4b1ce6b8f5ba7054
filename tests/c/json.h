/*
 * A minimal JSON reader for the golden data of tests/data (objects, arrays, strings without
 * escapes beyond \" and \\, numbers, true, false, null), for the C tests. Numbers keep their
 * text (copied): json_f32 reads it with strtof and json_f64 with strtod, both correctly rounding, so a
 * float32 written as its shortest decimal reads back to the same float (not through a double,
 * which could round twice). "nan", "inf" and "-inf" strings are those values. Any malformed
 * input or missing file exits the program with status 2: a missing data file fails the test.
 */
#ifndef MML_TEST_JSON_H
#define MML_TEST_JSON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum json_kind { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

typedef struct json {
    enum json_kind kind;
    const char *text;       /* number or string text, NUL-terminated */
    int boolean;
    size_t len;             /* array items or object members */
    struct json *items;     /* array items, or object values */
    const char **keys;      /* object keys */
    char *owned;            /* the root's: the file's text, which its strings point into */
} json;

static void json_die(const char *what, const char *at) {
    fprintf(stderr, "json: %s near \"%.20s\"\n", what, at ? at : "");
    exit(2);
}

static char *json_p;

static void json_ws(void) {
    while (*json_p == ' ' || *json_p == '\n' || *json_p == '\r' || *json_p == '\t') json_p++;
}

static void *json_alloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) json_die("out of memory", NULL);
    return p;
}

/* Reads a string in place: NUL-terminates it in the buffer (escapes \" and \\ unescaped). */
static const char *json_string(void) {
    char *start, *out;
    if (*json_p != '"') json_die("expected a string", json_p);
    start = out = ++json_p;
    while (*json_p != '"') {
        if (*json_p == '\0') json_die("unterminated string", start);
        if (*json_p == '\\') {
            json_p++;
            if (*json_p != '"' && *json_p != '\\') json_die("unsupported escape", json_p);
        }
        *out++ = *json_p++;
    }
    json_p++;
    *out = '\0';
    return start;
}

static void json_value(json *v);

static void json_list(json *v, char close, int object) {
    size_t cap = 8;
    v->len = 0;
    v->items = json_alloc(cap * sizeof *v->items);
    v->keys = object ? json_alloc(cap * sizeof *v->keys) : NULL;
    json_p++;
    json_ws();
    if (*json_p == close) { json_p++; return; }
    for (;;) {
        if (v->len == cap) {
            cap *= 2;
            v->items = realloc(v->items, cap * sizeof *v->items);
            if (object) v->keys = (const char **)realloc((void *)v->keys, cap * sizeof *v->keys);
            if (!v->items || (object && !v->keys)) json_die("out of memory", NULL);
        }
        json_ws();
        if (object) {
            v->keys[v->len] = json_string();
            json_ws();
            if (*json_p++ != ':') json_die("expected ':'", json_p - 1);
        }
        json_value(&v->items[v->len++]);
        json_ws();
        if (*json_p == ',') { json_p++; continue; }
        if (*json_p == close) { json_p++; return; }
        json_die("expected ',' or a closing bracket", json_p);
    }
}

static void json_value(json *v) {
    memset(v, 0, sizeof *v);
    json_ws();
    if (*json_p == '{') { v->kind = JSON_OBJECT; json_list(v, '}', 1); return; }
    if (*json_p == '[') { v->kind = JSON_ARRAY; json_list(v, ']', 0); return; }
    if (*json_p == '"') { v->kind = JSON_STRING; v->text = json_string(); return; }
    if (strncmp(json_p, "null", 4) == 0) { v->kind = JSON_NULL; json_p += 4; return; }
    if (strncmp(json_p, "true", 4) == 0) { v->kind = JSON_BOOL; v->boolean = 1; json_p += 4; return; }
    if (strncmp(json_p, "false", 5) == 0) { v->kind = JSON_BOOL; json_p += 5; return; }
    if (*json_p == '-' || (*json_p >= '0' && *json_p <= '9')) {
        char *start = json_p, *copy;
        while (*json_p && strchr("+-0123456789.eE", *json_p)) json_p++;
        /* the text is copied: the separator after it stays in the buffer */
        copy = json_alloc((size_t)(json_p - start) + 1);
        memcpy(copy, start, (size_t)(json_p - start));
        copy[json_p - start] = '\0';
        v->kind = JSON_NUMBER;
        v->text = copy;
        return;
    }
    json_die("unexpected character", json_p);
}

/* Parses the file at `path` (the buffer is kept for the program's life). */
static json json_load(const char *path) {
    FILE *f = fopen(path, "rb");
    long size;
    char *buf;
    json root;
    if (!f) { fprintf(stderr, "json: cannot open %s (the golden data is required)\n", path); exit(2); }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        json_die("cannot size the file", path);
    buf = json_alloc((size_t)size + 2);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) json_die("cannot read the file", path);
    fclose(f);
    buf[size] = '\0';
    buf[size + 1] = '\0';
    json_p = buf;
    json_value(&root);
    root.owned = buf;
    return root;
}

/* Frees a parsed value's tree (for the root, the file's text too). */
static void json_free(json *v) {
    size_t i;
    free(v->owned);
    if (v->kind == JSON_NUMBER) free((void *)v->text);
    if (v->kind == JSON_ARRAY || v->kind == JSON_OBJECT) {
        for (i = 0; i < v->len; i++) json_free(&v->items[i]);
        free(v->items);
        free((void *)v->keys);
    }
}

static const json *json_get(const json *obj, const char *key) {
    size_t i;
    if (obj->kind != JSON_OBJECT) json_die("not an object", key);
    for (i = 0; i < obj->len; i++)
        if (strcmp(obj->keys[i], key) == 0) return &obj->items[i];
    json_die("missing key", key);
    return NULL;
}

static const json *json_at(const json *arr, size_t i) {
    if (arr->kind != JSON_ARRAY || i >= arr->len) json_die("bad array index", NULL);
    return &arr->items[i];
}

static double json_special(const json *v) {
    if (strcmp(v->text, "nan") == 0) return NAN;
    if (strcmp(v->text, "inf") == 0) return INFINITY;
    if (strcmp(v->text, "-inf") == 0) return -INFINITY;
    json_die("not a number", v->text);
    return 0;
}

static float json_f32(const json *v) {
    char *end;
    float f;
    if (v->kind == JSON_STRING) return (float)json_special(v);
    if (v->kind != JSON_NUMBER) json_die("not a number", NULL);
    f = strtof(v->text, &end);
    if (*end) json_die("bad number", v->text);
    return f;
}

static double json_f64(const json *v) {
    char *end;
    double d;
    if (v->kind == JSON_STRING) return json_special(v);
    if (v->kind != JSON_NUMBER) json_die("not a number", NULL);
    d = strtod(v->text, &end);
    if (*end) json_die("bad number", v->text);
    return d;
}

static int64_t json_i64(const json *v) {
    char *end;
    long long x;
    if (v->kind != JSON_NUMBER) json_die("not an integer", NULL);
    x = strtoll(v->text, &end, 10);
    if (*end) json_die("bad integer", v->text);
    return (int64_t)x;
}

static const char *json_str(const json *v) {
    if (v->kind != JSON_STRING) json_die("not a string", NULL);
    return v->text;
}

#endif
