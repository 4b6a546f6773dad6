/* yamltree.h - a YAML document as a small tree of nodes that remember where
 * they were written (file, line, column), read with libyaml's event API. */
#ifndef TSIM_YAMLTREE_H
#define TSIM_YAMLTREE_H

#include "tsim/common.h"

typedef enum { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP } ynode_kind;

typedef struct ynode {
  ynode_kind kind;
  const char *src; /* file name (or "--set"), for messages */
  int line, col;   /* 1-based */
  char *value;     /* scalar text */
  int quoted;      /* scalar was quoted (so "1" is a string, not a number) */
  int count;       /* items (sequence) or pairs (mapping) */
  struct ynode **items;
  struct ynode **keys; /* mapping keys (scalars), parallel to items */
} ynode;

/* Parse the single document in PATH, or in TEXT (SRC names it in messages,
 * its first line is numbered LINE and COL_OFFSET is added to columns on
 * it; TEXT is the value of KEY, or NULL). An empty document gives an empty
 * mapping. Malformed YAML, aliases, non-scalar keys and duplicate keys are
 * TSIM_EINPUT errors "SRC:LINE:COL: key: what", naming the keys around
 * the place ("model.K"; none at the top). */
int ytree_parse_file(const char *path, ynode **root, tsim_error *err);
int ytree_parse_text(const char *text, const char *src, int line, int col_offset,
                     const char *key, ynode **root, tsim_error *err);
void ytree_free(ynode **node);

/* The value under KEY in a mapping, or NULL. */
ynode *ytree_get(const ynode *map, const char *key);
/* Put VALUE under KEY (replacing and freeing an old value); the map takes
 * ownership of VALUE. A new key is placed at LINE, COL of VALUE's source. */
void ytree_set(ynode *map, const char *key, int line, int col, ynode *value);
ynode *ytree_new_map(const char *src, int line, int col);

#endif
