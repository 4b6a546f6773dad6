/* main.c - the command line: prolog (MPI, config), the command, epilog.
 *
 * Exit statuses: 0 every cell done, 1 failure, 2 bad input (config, command
 * line, data files), 3 stopped with a checkpoint, or before any work with
 * nothing written (requeue me). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tsim/config.h"
#include "tsim/fault.h"
#include "tsim/data.h"
#include "tsim/engine.h"
#include "tsim/fused.h"
#include "tsim/lock.h"
#include "tsim/merge.h"
#include "tsim/parallel.h"
#include "tsim/schedule.h"
#include "tsim/sched.h"
#include "tsim/stop.h"
#include "tsim/version.h"

static const char *usage_main =
    "usage: tsim COMMAND [options]\n"
    "\n"
    "tsim simulates gradient descent of two-layer student networks learning a\n"
    "teacher from Gaussian data, over a grid of settings, under MPI.\n"
    "\n"
    "commands:\n"
    "  run CONFIG [options]     run every cell of the config's grid\n"
    "  validate CONFIG [--set key=value ...]\n"
    "                           check a config and print the expanded grid\n"
    "  export-data CONFIG -o DIR [--cell N]\n"
    "                           write cell N's samples and initial weights as\n"
    "                           .npy files (x, y, x_test, y_test, w0) for other tools\n"
    "  resume OUTDIR [options]  continue a stopped run from its newest checkpoint\n"
    "                           (the same as run OUTDIR/config.yaml -o OUTDIR --resume)\n"
    "  merge -o OUTDIR [--force] SLICEDIR...\n"
    "                           join the run directories of grid slices\n"
    "                           (run --cells i/N) into one run directory\n"
    "  unlock OUTDIR            remove the lock of a run directory whose run is\n"
    "                           gone (see tsim run --help)\n"
    "  help [COMMAND]           this text, or a command's options\n"
    "  --version                print the version and build\n"
    "\n"
    "Run under MPI: mpirun -np 4 bin/tsim run configs/wang2021_fig1.yaml\n"
    "Exit status: 0 done, 1 failure, 2 bad input, 3 stopped (requeue me).\n"
    "See `tsim run --help` for the options and the config keys.\n";

static const char *usage_run =
    "usage: tsim run CONFIG [-o OUTDIR] [--set key.path=value ...] [--force]\n"
    "                       [--team-size G] [--cells a:b | --cells i/N]\n"
    "                       [--progress live|log|none] [--progress-seconds S]\n"
    "                       [--resume] [--checkpoint-seconds S] [--time-limit S]\n"
    "                       [--quiet]\n"
    "\n"
    "Runs every cell of the grid in CONFIG and writes OUTDIR/config.yaml,\n"
    "manifest.json, cells.csv, metrics.csv, and as the config asks neurons.csv\n"
    "(output.neurons), teachers.csv (the model family) and spectrum.csv +\n"
    "hessian.csv (metrics.hessian). Status of a cell: converged, diverged,\n"
    "max_iterations, reached_T (a flow at its final time) or evaluated\n"
    "(train.iterations 0); a key it does not read (eta of a flow, n of the\n"
    "population regime, ...) is empty in cells.csv. Labels from data.y_file\n"
    "have no teacher (teacher.source none): the teacher-based columns are empty\n"
    "and teachers.csv is not written; with teacher.source file the teacher is\n"
    "teacher.w_file's (d x m, norms included; output weights teacher.a_file),\n"
    "checked against those labels.\n"
    "teacher.output: sign weighs the teacher's neurons +1, -1, +1, ... (neuron\n"
    "0 first; one neuron: +1), ones (the default) all 1; y = sum_l a_l act(v_l.x).\n"
    "output.weights: true writes, per cell,\n"
    "weights/CELL.npy of shape (rows, d, K), the student weights W_t (d x K, as\n"
    "init.w_file) at every logged row, weights/CELL.t.npy, (rows,), their t, and\n"
    "weights/CELL.teacher.npy, (d, m), the teacher's (numpy.load reads them);\n"
    "written whole with the cell's rows, kept by resume and merge; tsim validate\n"
    "prints the disk they take.\n"
    "train.weight_decay (lambda) descends loss + (lambda/2)|W|^2: train_loss and\n"
    "the stop rules stay the loss's, metrics.csv gets a penalty column, grad_norm\n"
    "and the Hessian spectra are the objective's. train.momentum (mu) is heavy\n"
    "ball: v <- mu v + g, W <- W - eta v, v = 0 at t = 0 (saved with a cell's\n"
    "state). Both gradient descent only (not train.method flow).\n"
    "model.train_output trains output weights a_k too, f = C sum_k a_k act(w_k.x)\n"
    "(step train.eta_output, start init.output; sharded and population engines).\n"
    "\n";
/* run's options: a second string, as C99 promises only 4095 characters */
static const char *usage_run_options =
    "options:\n"
    "  -o, --outdir DIR        run directory (default: output.dir of the config,\n"
    "                          else out/<name>)\n"
    "  --set key.path=value    override a config key; the value is YAML, so\n"
    "                          --set model.K=[2,4] makes a grid axis (repeatable);\n"
    "                          a relative file path is relative to the current\n"
    "                          directory (in CONFIG: to CONFIG's directory)\n"
    "  --force                 replace the results of an earlier run in OUTDIR\n"
    "                          (without it tsim refuses to touch them; never\n"
    "                          those of a run still going: see below)\n"
    "  --team-size G           ranks per team (a team runs one cell at a time,\n"
    "                          sharding its samples); default run.team_size,\n"
    "                          else 1 when there are at least as many cells as\n"
    "                          ranks; the choice is printed\n"
    "  --cells a:b             run only cells a <= id < b of the grid\n"
    "  --cells i/N             run only cells with id % N == i (for job arrays;\n"
    "                          join the slices with tsim merge)\n"
    "  --progress MODE         live: one line redrawn in place; log: a line\n"
    "                          every --progress-seconds S (default 30) and one\n"
    "                          per finished cell; none. Default: live when\n"
    "                          stdout and stderr are terminals, else log (Open\n"
    "                          MPI's mpirun gives ranks a pipe for stderr: log;\n"
    "                          --progress live for the redrawn line)\n"
    "  --progress-seconds S    the period of log mode's progress line\n"
    "  --resume                continue OUTDIR from its newest valid checkpoint\n"
    "                          (start afresh if it has none): finished cells are\n"
    "                          kept, running ones continue from their saved state,\n"
    "                          on any number of ranks, with the bits of an\n"
    "                          uninterrupted run\n"
    "  --checkpoint-seconds S  checkpoint every S seconds (run.checkpoint_seconds,\n"
    "                          default 600) and whenever a stop is requested\n"
    "  --time-limit S          stop with a checkpoint (exit status 3) after S\n"
    "                          seconds; inside a Slurm job tsim also stops 60 s\n"
    "                          before the job's end time (squeue's, read at the\n"
    "                          start), or after half the time left when 120 s or\n"
    "                          less are left at the start. SIGTERM, SIGINT,\n"
    "                          SIGUSR1 and a file OUTDIR/STOP do the same (a\n"
    "                          signal before any work: exit 3, nothing written)\n"
    "  -q, --quiet             no progress, no line per finished cell\n"
    "  -h, --help              this text\n"
    "\n"
    "A run directory belongs to one run: rank 0 holds OUTDIR/.lock (host, pid,\n"
    "Slurm job, start, command; its mtime is a heartbeat renewed every 10 s)\n"
    "from before it writes anything until it exits, and run, resume, merge -o\n"
    "and export-data -o refuse a locked directory (exit status 2, naming the\n"
    "holder). A lock whose process is gone (this host) or whose heartbeat is\n"
    "older than 120 s (another host) is taken over with a notice; a requeue\n"
    "of the holder's Slurm job (same SLURM_JOB_ID) waits up to 30 s for the\n"
    "previous run's rank 0 on this host to exit, then takes it over.\n"
    "tsim unlock OUTDIR removes a lock by hand.\n"
    "\n"
    "config keys (any key marked 'grid axis' may be a list; the grid is the\n"
    "product of all lists, first axis varying slowest, at most 1e7 cells; a\n"
    "list of two or more values only over a key that every cell reads):\n";

static const char *usage_resume =
    "usage: tsim resume OUTDIR [run options]\n"
    "\n"
    "The same as tsim run OUTDIR/config.yaml -o OUTDIR --resume: continues the\n"
    "run from its newest valid checkpoint (a run that left none starts anew,\n"
    "with the same config only). Finished cells are kept, running ones go on\n"
    "from their saved state; the tables end up byte-identical to an\n"
    "uninterrupted run's. See tsim run --help for the options.\n";

static const char *usage_merge =
    "usage: tsim merge -o OUTDIR [--force] SLICEDIR...\n"
    "\n"
    "Joins the run directories of grid slices (tsim run --cells i/N or a:b,\n"
    "one config) into OUTDIR, with tables identical to one run of the whole\n"
    "grid. The slices must come from the same config (config_hash) and cover\n"
    "every cell once. --force replaces the results of an earlier run in OUTDIR.\n"
    "A failed merge leaves OUTDIR as it was (the tables are written aside and\n"
    "renamed into it once all are whole).\n";

static const char *usage_export =
    "usage: tsim export-data CONFIG -o DIR [--cell N] [--force] [--set key.path=value ...]\n"
    "\n"
    "Writes cell N's (default 0) samples and initial weights as .npy files\n"
    "(float64): x (n, d), y (n,), x_test, y_test and w0 (d, K) (and a0 (K,),\n"
    "the output weights, with model.train_output), the exact bits\n"
    "a run uses, for checking tsim against another tool. DIR may not be a run\n"
    "directory; --force replaces an earlier export. A cell of the population\n"
    "regime uses no samples and is refused.\n";

static const char *usage_unlock =
    "usage: tsim unlock OUTDIR\n"
    "\n"
    "Removes OUTDIR/.lock, the lock a run (or merge, export-data) holds on its\n"
    "directory, and names its holder. Only for a lock whose run is gone but\n"
    "not yet stale (see tsim run --help): removing the lock of a live run\n"
    "lets another one write over it.\n";

static const char *usage_validate =
    "usage: tsim validate CONFIG [--set key.path=value ...]\n"
    "\n"
    "Checks CONFIG (every key, type, range and data file) and prints the\n"
    "number of cells and each cell's parameters (above 100 cells: the axes,\n"
    "their lengths and the cells per engine), without running anything.\n"
    "Errors are one line FILE:LINE:COL: key: what is wrong (what is allowed),\n"
    "exit status 2. SIGTERM, SIGINT or SIGUSR1 ends it with exit status 3.\n";

typedef struct cli {
  const char *command, *config, *outdir, *cell, *cells, *team_size, *progress, *progress_mode,
      *ckpt_seconds, *time_limit;
  char **sets, **inputs;
  int nsets, ninputs, force, quiet, help, resume;
  char command_line[2048];
} cli;

/* --set S, NEXT the argument after it (or NULL): "--set key value" is the
 * one mistake caught here, where the next argument is known. */
static int add_set(cli *c, char *s, const char *next, tsim_error *err) {
  c->sets[c->nsets++] = s;
  if (strchr(s, '=')) return TSIM_OK;
  if (next && next[0] != '-')
    return tsim_fail(err, TSIM_EINPUT, "--set:%d:%d: %s: no '=' (did you mean --set %s=%s?)",
                     c->nsets, (int)strlen(s) + 1, s, s, next);
  return tsim_fail(err, TSIM_EINPUT, "--set:%d:%d: %s: no '=' (did you mean --set %s=VALUE?)",
                   c->nsets, (int)strlen(s) + 1, s, s);
}

static int parse_cli(int argc, char **argv, cli *c, tsim_error *err) {
  memset(c, 0, sizeof *c);
  c->sets = tsim_xcalloc((size_t)argc + 1, sizeof(char *));
  c->inputs = tsim_xcalloc((size_t)argc + 1, sizeof(char *));
  size_t used = 0;
  for (int i = 0; i < argc && used + 2 < sizeof c->command_line; ++i) {
    int n = snprintf(c->command_line + used, sizeof c->command_line - used,
                     "%s%s", i ? " " : "", argv[i]);
    if (n > 0) used += (size_t)n;
  }
  for (char *q = c->command_line; *q; ++q)
    if (*q == '"' || *q == '\\') *q = '\''; /* it goes into JSON */
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      c->help = 1;
    } else if (!strcmp(a, "--version")) {
      c->command = "version";
    } else if (!strcmp(a, "-o") || !strcmp(a, "--outdir") ||
               !strcmp(a, "--set") || !strcmp(a, "--cell") ||
               !strcmp(a, "--cells") || !strcmp(a, "--team-size") ||
               !strcmp(a, "--progress-seconds") || !strcmp(a, "--progress") ||
               !strcmp(a, "--checkpoint-seconds") || !strcmp(a, "--time-limit")) {
      if (i + 1 >= argc)
        return tsim_fail(err, TSIM_EINPUT, "tsim: %s needs a value", a);
      const char *v = argv[++i];
      if (!strcmp(a, "--set"))
        TSIM_TRY(add_set(c, argv[i], i + 1 < argc ? argv[i + 1] : NULL, err));
      else if (!strcmp(a, "--cell")) c->cell = v;
      else if (!strcmp(a, "--cells")) c->cells = v;
      else if (!strcmp(a, "--team-size")) c->team_size = v;
      else if (!strcmp(a, "--progress-seconds")) c->progress = v;
      else if (!strcmp(a, "--progress")) c->progress_mode = v;
      else if (!strcmp(a, "--checkpoint-seconds")) c->ckpt_seconds = v;
      else if (!strcmp(a, "--time-limit")) c->time_limit = v;
      else c->outdir = v;
    } else if (!strncmp(a, "--set=", 6)) {
      TSIM_TRY(add_set(c, argv[i] + 6, i + 1 < argc ? argv[i + 1] : NULL, err));
    } else if (!strncmp(a, "--outdir=", 9)) {
      c->outdir = a + 9;
    } else if (!strcmp(a, "--force")) {
      c->force = 1;
    } else if (!strcmp(a, "--resume")) {
      c->resume = 1;
    } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
      c->quiet = 1;
    } else if (a[0] == '-') {
      return tsim_fail(err, TSIM_EINPUT, "tsim: unknown option %s (see tsim --help)", a);
    } else if (!c->command) {
      c->command = a;
    } else if (!strcmp(c->command, "merge")) {
      c->inputs[c->ninputs++] = argv[i];
    } else if (!c->config) {
      c->config = a;
    } else {
      return tsim_fail(err, TSIM_EINPUT, "tsim: unexpected argument %s", a);
    }
  }
  if (c->command && strcmp(c->command, "run") && strcmp(c->command, "validate") &&
      strcmp(c->command, "help") && strcmp(c->command, "version") &&
      strcmp(c->command, "export-data") && strcmp(c->command, "merge") &&
      strcmp(c->command, "resume") && strcmp(c->command, "unlock"))
    return tsim_fail(err, TSIM_EINPUT, "tsim: unknown command %s (see tsim --help)",
                     c->command);
  return TSIM_OK;
}

static void print_help(const char *command) {
  if (command && !strcmp(command, "run")) {
    fputs(usage_run, stdout);
    fputs(usage_run_options, stdout);
    config_print_keys(stdout);
  } else if (command && !strcmp(command, "validate")) {
    fputs(usage_validate, stdout);
  } else if (command && !strcmp(command, "resume")) {
    fputs(usage_resume, stdout);
  } else if (command && !strcmp(command, "merge")) {
    fputs(usage_merge, stdout);
  } else if (command && !strcmp(command, "export-data")) {
    fputs(usage_export, stdout);
  } else if (command && !strcmp(command, "unlock")) {
    fputs(usage_unlock, stdout);
  } else {
    fputs(usage_main, stdout);
  }
}

/* Grids up to this many cells are printed a line per cell; larger ones as
 * a summary (axes, their lengths and a few values, the number of cells). */
#define GRID_LINES_MAX 100

static int print_grid(const tsim_config *cfg, tsim_error *err) {
  const int summary = cfg->ncells > GRID_LINES_MAX;
  printf("config %s: name %s, %lld cell%s, output %s\n", cfg->path, cfg->name,
         (long long)cfg->ncells, cfg->ncells == 1 ? "" : "s", cfg->out_dir);
  for (int a = 0; a < cfg->naxes; ++a) {
    const int64_t n = cfg->axes[a].count;
    printf("  axis %-18s %lld values: [", cfg->axes[a].key, (long long)n);
    for (int64_t v = 0; v < n; ++v) {
      if (summary && n > 10 && v == 5) { /* the first five and the last */
        printf(", ...");
        v = n - 1;
      }
      printf("%s%s", v ? ", " : "", cfg->axes[a].values[v]);
    }
    printf("]\n");
  }
  if (summary) {
    printf("  %lld cells =", (long long)cfg->ncells);
    for (int a = 0; a < cfg->naxes; ++a)
      printf("%s %lld (%s)", a ? " x" : "", (long long)cfg->axes[a].count, cfg->axes[a].key);
    printf("; a line per cell only up to %d cells\n", GRID_LINES_MAX);
    /* cells per engine, and the cost model of each one's first cell */
    enum { NENGINES = ENGINE_POPULATION + 1 }; /* the last engine id */
    int64_t count[NENGINES] = {0}, first[NENGINES];
    for (int e = 0; e < NENGINES; ++e) first[e] = -1;
    for (int64_t id = 0; id < cfg->ncells; ++id) {
      if (id % 65536 == 0 && stop_signalled()) return config_stopped(err);
      tsim_params p;
      config_cell(cfg, id, &p);
      const int e = engine_choose(&p);
      if (e < 0 || e >= NENGINES) continue;
      count[e] += 1;
      if (first[e] < 0) first[e] = id;
    }
    printf("engines (data.engine; the cost model of each engine's first cell):\n");
    for (int e = 0; e < NENGINES; ++e) {
      if (!count[e]) continue;
      char engine[512];
      tsim_params p;
      config_cell(cfg, first[e], &p);
      engine_describe(&p, engine, sizeof engine);
      printf("  %lld cells on %s; cell %lld: %s\n", (long long)count[e], engine_name(e),
             (long long)first[e], engine);
    }
    return TSIM_OK;
  }
  /* each cell's engine, and the cost model once per distinct setting */
  char (*seen)[512] = NULL;
  int64_t *count = NULL, *first = NULL, nseen = 0;
  for (int64_t id = 0; id < cfg->ncells; ++id) {
    char label[1024], engine[512];
    tsim_params p;
    config_cell(cfg, id, &p);
    config_cell_label(cfg, id, label, sizeof label);
    engine_describe(&p, engine, sizeof engine);
    printf("  cell %lld: %s  engine=%s\n", (long long)id, label[0] ? label : "(single cell)",
           engine_name(engine_choose(&p)));
    int64_t s = 0;
    while (s < nseen && strcmp(seen[s], engine)) ++s;
    if (s == nseen) { /* a new distinct setting */
      seen = tsim_xrealloc(seen, (size_t)(nseen + 1) * sizeof *seen);
      count = tsim_xrealloc(count, (size_t)(nseen + 1) * sizeof *count);
      first = tsim_xrealloc(first, (size_t)(nseen + 1) * sizeof *first);
      snprintf(seen[nseen], sizeof seen[nseen], "%s", engine);
      count[nseen] = 0;
      first[nseen++] = id;
    }
    count[s] += 1;
  }
  printf("engines (data.engine; cost model per distinct setting):\n");
  for (int64_t s = 0; s < nseen; ++s)
    printf("  %lld cell%s like cell %lld: %s\n", (long long)count[s], count[s] == 1 ? "" : "s",
           (long long)first[s], seen[s]);
  free(seen);
  free(count);
  free(first);
  return TSIM_OK;
}

/* output.weights: the disk weights/ will take, rows x d x K x 8 bytes per
 * cell summed (rows: what the cell logs if it runs to its limit). */
static int print_weights_disk(const tsim_config *cfg, tsim_error *err) {
  double bytes = 0.0, rows = 0.0;
  for (int64_t id = 0; id < cfg->ncells; ++id) {
    if (id % 65536 == 0 && stop_signalled()) return config_stopped(err);
    tsim_params p;
    config_cell(cfg, id, &p);
    const double r = (double)schedule_log_rows(&p);
    rows += r;
    bytes += r * (double)p.d * (double)p.K * 8.0;
  }
  const char *unit[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  double v = bytes;
  int u = 0;
  while (v >= 1000.0 && u < 5) v /= 1000.0, ++u;
  printf("output.weights: weights/ takes at most %.4g %s (%.0f bytes: %.0f logged rows of d x K "
         "doubles over %lld cell%s; cells that stop early log fewer)\n", v, unit[u], bytes, rows,
         (long long)cfg->ncells, cfg->ncells == 1 ? "" : "s");
  return TSIM_OK;
}

static int run_options(const cli *c, sched_options *opt, tsim_error *err) {
  char *end = NULL;
  if (c->team_size) {
    long long g = strtoll(c->team_size, &end, 10);
    if (*end || g < 1)
      return tsim_fail(err, TSIM_EINPUT, "tsim run: --team-size %s: need an integer >= 1",
                       c->team_size);
    opt->team_size = g;
  }
  if (c->progress) {
    double p = strtod(c->progress, &end);
    if (*end || !(p > 0))
      return tsim_fail(err, TSIM_EINPUT, "tsim run: --progress-seconds %s: need a number > 0",
                       c->progress);
    opt->progress_seconds = p;
  }
  const char *reals[2] = {c->ckpt_seconds, c->time_limit};
  const char *names[2] = {"--checkpoint-seconds", "--time-limit"};
  double *into[2] = {&opt->checkpoint_seconds, &opt->time_limit};
  for (int i = 0; i < 2; ++i) {
    if (!reals[i]) continue;
    double v = strtod(reals[i], &end);
    if (*end || !(v > 0))
      return tsim_fail(err, TSIM_EINPUT, "tsim run: %s %s: need a number > 0", names[i],
                       reals[i]);
    *into[i] = v;
  }
  if (c->progress_mode) {
    static const char *modes[] = {"auto", "live", "log", "none"};
    opt->progress = -1;
    for (int m = 0; m < 4; ++m)
      if (!strcmp(c->progress_mode, modes[m])) opt->progress = m;
    if (opt->progress < 0)
      return tsim_fail(err, TSIM_EINPUT, "tsim run: --progress %s: need live, log or none",
                       c->progress_mode);
  }
  return TSIM_OK;
}

/* Rank 0 takes DIR's lock (lock.h); every rank learns the verdict. */
static int take_lock(const char *dir, const cli *c, tsim_lock **lock, tsim_error *err) {
  par_comm *world = par_world();
  const int rc = par_rank(world) == 0 ? lock_acquire(dir, c->command_line, lock, err) : TSIM_OK;
  return par_agree(world, rc, err);
}

/* Why export-data may not write into C->outdir (checked holding its
 * lock), or OK: a run directory is not an export directory; an earlier
 * export is replaced only with --force. */
static int export_refused(const cli *c, tsim_error *err) {
  static const char *const run_files[] = {"manifest.json", "cells.csv", "config.yaml"};
  static const char *const exported[] = {"x.npy", "y.npy", "x_test.npy", "y_test.npy", "w0.npy",
                                         "a0.npy"};
  char path[4200];
  for (size_t i = 0; i < sizeof run_files / sizeof *run_files; ++i) {
    snprintf(path, sizeof path, "%s/%s", c->outdir, run_files[i]);
    if (access(path, F_OK) == 0)
      return tsim_fail(err, TSIM_EINPUT,
                       "%s: a run directory (it holds %s); export-data writes into a "
                       "directory of its own", c->outdir, run_files[i]);
  }
  for (size_t i = 0; i < sizeof exported / sizeof *exported && !c->force; ++i) {
    snprintf(path, sizeof path, "%s/%s", c->outdir, exported[i]);
    if (access(path, F_OK) == 0)
      return tsim_fail(err, TSIM_EINPUT,
                       "%s: holds %s of an earlier export; use --force to replace it",
                       c->outdir, exported[i]);
  }
  return TSIM_OK;
}

static int export_data(const tsim_config *cfg, const cli *c, tsim_error *err) {
  par_comm *world = par_world();
  tsim_lock *lock = NULL;
  int rc = TSIM_OK;
  char *end = NULL;
  long long cell = c->cell ? strtoll(c->cell, &end, 10) : 0;
  if (!c->outdir)
    rc = tsim_fail(err, TSIM_EINPUT, "tsim export-data: needs -o DIR");
  else if (c->cell && (*end || cell < 0 || cell >= cfg->ncells))
    rc = tsim_fail(err, TSIM_EINPUT, "tsim export-data: --cell %s is not a cell id (0 to %lld)",
                   c->cell, (long long)cfg->ncells - 1);
  tsim_params p;
  if (!rc) config_cell(cfg, cell, &p);
  if (!rc && p.regime == REGIME_POPULATION)
    rc = tsim_fail(err, TSIM_EINPUT,
                   "tsim export-data: cell %lld is in the population regime "
                   "(data.regime: population): it uses no samples", cell);
  /* the lock first: a directory a run holds is refused naming its holder */
  if (!rc && !(rc = take_lock(c->outdir, c, &lock, err)) && par_rank(world) == 0 &&
      !(rc = export_refused(c, err)))
    rc = data_export(&p, c->outdir, err);
  lock_release(&lock);
  return par_agree(world, rc, err);
}

/* The input files hold no NaN or inf: each rank looks at a share of their
 * rows, and the first one found in file order is the error on every rank.
 * The same pass hashes their contents (the same sums for any rank count).
 * Then labels from data.y_file are checked against a file teacher. */
static int check_inputs(tsim_config *cfg, tsim_error *err) {
  par_comm *world = par_world();
  int64_t first[CONFIG_MAX_INPUTS], sums[3 * CONFIG_MAX_INPUTS];
  int rc = config_scan_inputs(cfg, par_rank(world), par_size(world), first, sums, err);
  TSIM_TRY(par_agree(world, rc, err));
  for (int i = 0; i < cfg->ninputs; ++i) first[i] = par_min_int64(world, first[i]);
  if (cfg->ninputs) par_sum_int64(world, sums, 3 * (int64_t)cfg->ninputs);
  config_set_input_hashes(cfg, sums);
  TSIM_TRY(par_agree(world, config_nonfinite_error(cfg, first, err), err));
  /* labels from data.y_file next to a file teacher: made by it? */
  char warn[4200];
  TSIM_TRY(par_agree(world, config_check_labels(cfg, warn, sizeof warn, err), err));
  if (warn[0] && par_rank(world) == 0) fprintf(stderr, "%s\n", warn);
  return TSIM_OK;
}

int main(int argc, char **argv) {
  /* before anything else, so that a stop signal never finds the default
   * action (death) in place; again after MPI_Init, which may install its
   * own */
  stop_install_handlers();
  if (par_init(&argc, &argv)) {
    fprintf(stderr, "tsim: MPI initialisation failed\n");
    return TSIM_EFAIL;
  }
  stop_install_handlers();
  par_comm *world = par_world();
  const int rank = par_rank(world);
  tsim_error err = {0};
  cli c;
  int rc = parse_cli(argc, argv, &c, &err);
  tsim_config *cfg = NULL;
  tsim_lock *lock = NULL; /* rank 0's, on the directory it writes */
  char resume_config[4200];
  if (!rc && c.command && !strcmp(c.command, "resume") && !c.help) {
    /* tsim resume OUTDIR == tsim run OUTDIR/config.yaml -o OUTDIR --resume */
    if (!c.config) {
      rc = tsim_fail(&err, TSIM_EINPUT, "tsim resume: missing OUTDIR");
    } else {
      snprintf(resume_config, sizeof resume_config, "%s/config.yaml", c.config);
      c.outdir = c.config;
      c.config = resume_config;
      c.resume = 1;
      c.command = "run";
    }
  }
  if (!rc) rc = fault_init(rank, &err);
  if (!rc && (c.help || !c.command || !strcmp(c.command, "help"))) {
    if (rank == 0) print_help(c.command && strcmp(c.command, "help") ? c.command : c.config);
  } else if (!rc && !strcmp(c.command, "version")) {
    if (rank == 0)
      printf("tsim %s (commit %s; %s; %s; fused pass: %d doubles per vector)\n",
             TSIM_VERSION, TSIM_GIT_COMMIT, TSIM_COMPILER, TSIM_CFLAGS, fused_vector_width());
  } else if (!rc && !strcmp(c.command, "merge")) {
    if (!c.outdir)
      rc = tsim_fail(&err, TSIM_EINPUT, "tsim merge: needs -o OUTDIR");
    else if (!(rc = take_lock(c.outdir, &c, &lock, &err)) && rank == 0)
      rc = merge_runs(c.outdir, c.inputs, c.ninputs, c.force, &err);
    lock_release(&lock);
    rc = par_agree(world, rc, &err);
    if (!rc && rank == 0)
      printf("merged %d slice%s into %s\n", c.ninputs, c.ninputs == 1 ? "" : "s", c.outdir);
  } else if (!rc && !strcmp(c.command, "unlock")) {
    char what[1024] = "";
    if (!c.config)
      rc = tsim_fail(&err, TSIM_EINPUT, "tsim unlock: missing OUTDIR");
    else if (rank == 0)
      rc = lock_remove(c.config, what, sizeof what, &err);
    rc = par_agree(world, rc, &err);
    if (!rc && rank == 0) {
      if (what[0]) printf("removed %s/.lock (%s)\n", c.config, what);
      else printf("%s is not locked\n", c.config);
    }
  } else if (!rc) {
    if (!c.config)
      rc = tsim_fail(&err, TSIM_EINPUT, "tsim %s: missing CONFIG (see tsim %s --help)",
                     c.command, c.command);
    else
      rc = config_load_stoppable(c.config, c.sets, c.nsets, &cfg, &err);
    rc = par_agree(world, rc, &err);
    if (!rc) rc = check_inputs(cfg, &err);
    /* a stop signal so far ends the command here, before anything is
     * written (the run's own stop handling starts with sched_run) */
    if (!rc) rc = par_agree(world, stop_signalled() ? config_stopped(&err) : TSIM_OK, &err);
    if (!rc && !strcmp(c.command, "validate")) {
      if (rank == 0) rc = print_grid(cfg, &err);
      if (rank == 0 && !rc && cfg->out_weights) rc = print_weights_disk(cfg, &err);
      rc = par_agree(world, rc, &err);
    } else if (!rc && !strcmp(c.command, "export-data")) {
      rc = export_data(cfg, &c, &err);
    } else if (!rc) {
      sched_options opt = {.force = c.force,
                           .quiet = c.quiet,
                           .command_line = c.command_line,
                           .cells = c.cells,
                           .resume = c.resume,
                           .checkpoint_seconds = cfg->checkpoint_seconds,
                           .progress_seconds = 30};
      rc = run_options(&c, &opt, &err);
      if (!rc) {
        if (c.outdir) config_set_out_dir(cfg, c.outdir);
        opt.outdir = cfg->out_dir;
        rc = take_lock(opt.outdir, &c, &lock, &err);
        if (!rc) rc = sched_run(cfg, &opt, &err);
        lock_release(&lock);
      }
    }
  }
  if (rc && rank == 0) fprintf(stderr, "%s\n", err.msg);
  config_destroy(&cfg);
  free(c.sets);
  free(c.inputs);
  fflush(stdout);
  par_finalize();
  return rc;
}
