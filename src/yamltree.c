/* yamltree.c - libyaml events to a tree of positioned nodes. */
#include "tsim/yamltree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct reader {
  yaml_parser_t parser;
  const char *src;
  int line0;      /* the line number of the text's first line */
  int col_offset; /* added to columns on the first line */
  int end_col;    /* one-line text: the column just past it, where marks
                     on the line after it (its end) are put; else 0 */
  int depth; /* lists and mappings open around the node being read */
  char key[256]; /* the keys around the node being read, "model.K" */
  tsim_error *err;
} reader;

/* Deeper nesting than any config has is refused before the recursion of
 * parse_node / parse_children could run out of stack (about 30000 levels
 * crashed). */
#define MAX_DEPTH 64

static int mark_line(const reader *r, yaml_mark_t m) {
  return r->end_col ? r->line0 : (int)m.line + r->line0;
}
static int mark_col(const reader *r, yaml_mark_t m) {
  if (r->end_col && m.line > 0) return r->end_col;
  return (int)m.column + 1 + (m.line == 0 ? r->col_offset : 0);
}

static ynode *node_new(ynode_kind kind, const reader *r, yaml_mark_t mark) {
  ynode *n = tsim_xcalloc(1, sizeof *n);
  n->kind = kind;
  n->src = r->src;
  n->line = mark_line(r, mark);
  n->col = mark_col(r, mark);
  return n;
}

ynode *ytree_new_map(const char *src, int line, int col) {
  ynode *n = tsim_xcalloc(1, sizeof *n);
  n->kind = YNODE_MAP;
  n->src = src;
  n->line = line;
  n->col = col;
  return n;
}

void ytree_free(ynode **node) {
  if (!node || !*node) return;
  ynode *n = *node;
  for (int i = 0; i < n->count; ++i) {
    ytree_free(&n->items[i]);
    if (n->keys) ytree_free(&n->keys[i]);
  }
  free(n->items);
  free(n->keys);
  free(n->value);
  free(n);
  *node = NULL;
}

static void append(ynode *parent, ynode *key, ynode *item) {
  parent->items = tsim_xrealloc(parent->items,
                                (size_t)(parent->count + 1) * sizeof(ynode *));
  parent->items[parent->count] = item;
  if (parent->kind == YNODE_MAP) {
    parent->keys = tsim_xrealloc(parent->keys,
                                 (size_t)(parent->count + 1) * sizeof(ynode *));
    parent->keys[parent->count] = key;
  }
  parent->count += 1;
}

/* "SRC:LINE:COL: KEY: malformed YAML: WHAT" at mark M, KEY the keys around
 * the node being read (none at the top). */
static int malformed(reader *r, yaml_mark_t m, const char *what) {
  return tsim_fail(r->err, TSIM_EINPUT, "%s:%d:%d: %s%smalformed YAML: %s", r->src,
                   mark_line(r, m), mark_col(r, m), r->key, r->key[0] ? ": " : "", what);
}

static int parser_error(reader *r) {
  const yaml_parser_t *p = &r->parser;
  char what[512], opened[64] = "";
  const yaml_mark_t c = p->context_mark;
  if (p->context && c.line != p->problem_mark.line) /* where the list or mapping began */
    snprintf(opened, sizeof opened, " that began at %d:%d", mark_line(r, c), mark_col(r, c));
  snprintf(what, sizeof what, "%s%s%s%s", p->problem ? p->problem : "syntax error",
           p->context ? " " : "", p->context ? p->context : "", opened);
  return malformed(r, p->problem_mark, what);
}

static int next_event(reader *r, yaml_event_t *ev) {
  if (!yaml_parser_parse(&r->parser, ev)) return parser_error(r);
  return TSIM_OK;
}

static int parse_node(reader *r, yaml_event_t *ev, ynode **out);

/* Parse the children of a sequence or mapping until its end event. */
static int parse_children(reader *r, ynode *parent, yaml_event_type_t end) {
  for (;;) {
    yaml_event_t ev;
    TSIM_TRY(next_event(r, &ev));
    if (ev.type == end) {
      yaml_event_delete(&ev);
      return TSIM_OK;
    }
    ynode *key = NULL, *item = NULL;
    const size_t len = strlen(r->key); /* the mapping's own key */
    if (parent->kind == YNODE_MAP) {
      int rc = parse_node(r, &ev, &key);
      yaml_event_delete(&ev);
      if (rc) return rc;
      if (key->kind != YNODE_SCALAR) {
        rc = tsim_fail(r->err, TSIM_EINPUT,
                       "%s:%d:%d: %s%smalformed YAML: a key must be a plain word",
                       r->src, key->line, key->col, r->key, r->key[0] ? ": " : "");
        ytree_free(&key);
        return rc;
      }
      if (ytree_get(parent, key->value)) {
        rc = tsim_fail(r->err, TSIM_EINPUT, "%s:%d:%d: %s%s%s: duplicate key",
                       r->src, key->line, key->col, r->key, r->key[0] ? "." : "", key->value);
        ytree_free(&key);
        return rc;
      }
      /* the value's messages name its key */
      snprintf(r->key + len, sizeof r->key - len, "%s%s", len ? "." : "", key->value);
      rc = next_event(r, &ev);
      if (rc) {
        ytree_free(&key);
        return rc;
      }
    }
    int rc = parse_node(r, &ev, &item);
    yaml_event_delete(&ev);
    if (rc) {
      ytree_free(&key);
      return rc;
    }
    r->key[len] = '\0';
    append(parent, key, item);
  }
}

static int parse_node(reader *r, yaml_event_t *ev, ynode **out) {
  *out = NULL;
  switch (ev->type) {
    case YAML_SCALAR_EVENT: {
      ynode *n = node_new(YNODE_SCALAR, r, ev->start_mark);
      n->value = tsim_xstrdup((const char *)ev->data.scalar.value);
      n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
      *out = n;
      return TSIM_OK;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
      const int seq = ev->type == YAML_SEQUENCE_START_EVENT;
      const yaml_mark_t m = ev->start_mark;
      if (r->depth >= MAX_DEPTH) {
        char what[64];
        snprintf(what, sizeof what, "nested deeper than %d lists and mappings", MAX_DEPTH);
        return malformed(r, m, what);
      }
      ynode *n = node_new(seq ? YNODE_SEQ : YNODE_MAP, r, m);
      ++r->depth;
      int rc = parse_children(r, n, seq ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT);
      --r->depth;
      if (rc) ytree_free(&n);
      *out = n;
      return rc;
    }
    case YAML_ALIAS_EVENT:
      return malformed(r, ev->start_mark,
                       "aliases (*name) are not supported (write the value out)");
    case YAML_NO_EVENT: /* the rest: out of place where a node is due */
    case YAML_STREAM_START_EVENT:
    case YAML_STREAM_END_EVENT:
    case YAML_DOCUMENT_START_EVENT:
    case YAML_DOCUMENT_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
    default:
      return malformed(r, ev->start_mark, "unexpected event");
  }
}

static int parse_document(reader *r, ynode **root) {
  *root = NULL;
  yaml_event_t ev;
  int rc = TSIM_OK;
  /* stream start, then a document or the stream end (empty file) */
  TSIM_TRY(next_event(r, &ev));
  yaml_event_delete(&ev);
  TSIM_TRY(next_event(r, &ev));
  if (ev.type == YAML_STREAM_END_EVENT) {
    yaml_event_delete(&ev);
    *root = ytree_new_map(r->src, r->line0, 1 + r->col_offset);
    return TSIM_OK;
  }
  yaml_event_delete(&ev); /* document start */
  TSIM_TRY(next_event(r, &ev));
  rc = parse_node(r, &ev, root);
  yaml_event_delete(&ev);
  if (rc) return rc;
  TSIM_TRY(next_event(r, &ev)); /* document end */
  yaml_event_delete(&ev);
  TSIM_TRY(next_event(r, &ev));
  if (ev.type != YAML_STREAM_END_EVENT) {
    const yaml_mark_t m = ev.start_mark;
    yaml_event_delete(&ev);
    return malformed(r, m, "more than one document (remove the second '---')");
  }
  yaml_event_delete(&ev);
  return TSIM_OK;
}

static int parse_with(reader *r, ynode **root) {
  int rc = parse_document(r, root);
  yaml_parser_delete(&r->parser);
  if (rc) ytree_free(root);
  return rc;
}

int ytree_parse_file(const char *path, ynode **root, tsim_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return tsim_fail(err, TSIM_EINPUT, "%s: cannot open config: %s", path,
                     strerror(errno));
  reader r = {.src = path, .line0 = 1, .err = err};
  yaml_parser_initialize(&r.parser);
  yaml_parser_set_input_file(&r.parser, f);
  int rc = parse_with(&r, root);
  fclose(f);
  return rc;
}

int ytree_parse_text(const char *text, const char *src, int line, int col_offset,
                     const char *key, ynode **root, tsim_error *err) {
  reader r = {.src = src, .line0 = line, .col_offset = col_offset, .err = err};
  snprintf(r.key, sizeof r.key, "%s", key ? key : "");
  if (!strchr(text, '\n')) r.end_col = col_offset + (int)strlen(text) + 1;
  yaml_parser_initialize(&r.parser);
  yaml_parser_set_input_string(&r.parser, (const unsigned char *)text,
                               strlen(text));
  return parse_with(&r, root);
}

ynode *ytree_get(const ynode *map, const char *key) {
  if (!map || map->kind != YNODE_MAP) return NULL;
  for (int i = 0; i < map->count; ++i)
    if (!strcmp(map->keys[i]->value, key)) return map->items[i];
  return NULL;
}

void ytree_set(ynode *map, const char *key, int line, int col, ynode *value) {
  for (int i = 0; i < map->count; ++i) {
    if (!strcmp(map->keys[i]->value, key)) {
      ytree_free(&map->items[i]);
      map->items[i] = value;
      return;
    }
  }
  ynode *k = tsim_xcalloc(1, sizeof *k);
  k->kind = YNODE_SCALAR;
  k->src = value->src;
  k->line = line;
  k->col = col;
  k->value = tsim_xstrdup(key);
  append(map, k, value);
}
