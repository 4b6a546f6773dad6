/* resume.h - continuing a run where an earlier one left off: what its
 * tables and pending/ fragments hold, read back and cut to whole cells. */
#ifndef TSIM_RESUME_H
#define TSIM_RESUME_H

#include <stdint.h>
#include <stdio.h>
#include "tsim/common.h"
#include "tsim/config.h"
#include "tsim/output.h"
#include "tsim/result.h"

/* What a run left in OUTDIR, for a resume (reads only). A cell of IDS
 * (ascending) is finished when its rows are whole in the tables (its
 * cells.csv row is written after its other rows, so the cells whose rows
 * there are whole, in id order, and whose rows in every other table are
 * too) or when pending/ holds a whole fragment of each table for it,
 * stamped with this config's hash or PREVIOUS_HASH (that of the run that
 * left them). On entry *WRITTEN and TABLE_BYTES are where a checkpoint says
 * the tables' whole cells end (0: none), trusted while the tables still
 * hold them; on return how many of IDS the tables hold whole and where. DONE
 * (by cell id) becomes the finished cells. What is dropped is said on LOG
 * (may be NULL), fragments not taken on stderr. */
void resume_scan_tables(const tsim_config *cfg, const char *outdir, const int64_t *ids,
                        int64_t nids, uint64_t previous_hash, unsigned char *done,
                        int64_t *written, int64_t table_bytes[NTABLES], FILE *log);
/* Continue the run in OUTDIR: the tables are cut back to TABLE_BYTES, the
 * first WRITTEN of IDS are in them, and the other cells marked in DONE
 * (indexed by cell id) wait in pending/ (resume_scan_tables' findings; a cell
 * whose rows are cut off keeps them there). Everything else in pending/
 * goes. */
int resume_cut_tables(const tsim_config *cfg, const char *outdir, const int64_t *ids,
                      int64_t nids, const unsigned char *done, int64_t written,
                      const int64_t table_bytes[NTABLES], uint64_t previous_hash,
                      run_output **out, tsim_error *err);
/* Mark (by cell id) the finished cells of OUTDIR whose status is STATUS. */
int resume_mark_status(const char *outdir, const char *status, int64_t ncells,
                       unsigned char *mark, tsim_error *err);
/* Byte offset in TABLE (enum result_table) of the first row of a
 * cell with id >= FIRST_CELL (the length if none); -1 if unreadable. */
int64_t resume_table_offset(const char *outdir, int table, int64_t first_cell);

#endif
