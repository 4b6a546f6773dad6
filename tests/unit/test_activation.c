/* test_activation.c - the table of activations (activation.h): every entry
 * is complete and found by its name, the config accepts exactly the table's
 * names, and each entry's numbers agree with its value function: slope and
 * curvature with finite differences, homogeneity degree and symmetry with
 * act itself, and the population constants with Gaussian integrals of act
 * (for unit u, w: k(u, u) = E act(g)^2, and k(u, w) = (E act(g))^2 when
 * u.w = 0). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tsim/activation.h"
#include "tsim/config.h"

/* every entry: complete, its own index, found by its name; ACT_CHOICES
 * lists the names in enum order */
static void test_entries(void) {
  int complete = 1, found = 1;
  for (int a = 0; a < ACT_COUNT; ++a) {
    const tsim_activation_info *e = activation_info(a);
    complete &= e->id == (tsim_activation)a && e->name && e->formula && e->value && e->slope &&
                e->degree >= 0.0 && (e->even == 0 || e->even == 1) &&
                (e->smooth == 0 || (e->smooth == 1 && e->curvature == 0.0)) &&
                !e->second == !e->smooth;
    found &= activation_by_name(e->name) == e;
  }
  CHECK(complete, "%d table entries, each with its id, name, value, slope, degree, smooth "
        "(and then act'')",
        ACT_COUNT);
  CHECK(found && !activation_by_name("tanhh") && !activation_by_name(""),
        "each entry is found by its name, an unknown name by none");
  char choices[] = ACT_CHOICES;
  int count = 0, same = 1;
  for (char *tok = strtok(choices, "|"); tok; tok = strtok(NULL, "|"), ++count)
    same &= count < ACT_COUNT && !strcmp(tok, activation_info(count)->name);
  CHECK(same && count == ACT_COUNT, "ACT_CHOICES \"%s\" = the table's names in enum order",
        ACT_CHOICES);
}

static int load(const char *yaml, tsim_config **cfg, tsim_error *err) {
  char path[] = "/tmp/tsim_test_activation_XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return TSIM_EFAIL;
  FILE *f = fdopen(fd, "w");
  fputs(yaml, f);
  fclose(f);
  const int rc = config_load(path, NULL, 0, cfg, err);
  unlink(path);
  return rc;
}

/* the config takes every name of the table as model.activation and
 * teacher.activation, as its enum value, and lists them all when refusing
 * another */
static void test_config(void) {
  char yaml[512], list[256] = "";
  for (int a = 0; a < ACT_COUNT; ++a)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", a ? ", " : "",
             activation_info(a)->name);
  snprintf(yaml, sizeof yaml, "name: act\nmodel: {activation: [%s]}\n", list);
  tsim_config *cfg = NULL;
  tsim_error err = {0};
  int rc = load(yaml, &cfg, &err), ok = rc == 0 && cfg->ncells == ACT_COUNT;
  for (int64_t c = 0; ok && c < ACT_COUNT; ++c) {
    tsim_params p;
    config_cell(cfg, c, &p);
    ok = p.activation == (int)c;
  }
  CHECK(ok, "model.activation: [%s] gives cells with activations 0..%d (%s)", list,
        ACT_COUNT - 1, rc ? err.msg : "loaded");
  config_destroy(&cfg);
  ok = 1;
  for (int a = 0; a < ACT_COUNT && ok; ++a) {
    snprintf(yaml, sizeof yaml, "name: act\nteacher: {activation: %s}\n",
             activation_info(a)->name);
    ok = load(yaml, &cfg, &err) == 0 && cfg->base.teacher_activation == a + 1;
    config_destroy(&cfg);
  }
  CHECK(ok, "teacher.activation: each table name gives its activation + 1");
  rc = load("name: act\nmodel: {activation: tanhh}\n", &cfg, &err);
  ok = rc == TSIM_EINPUT;
  for (int a = 0; a < ACT_COUNT; ++a) ok &= strstr(err.msg, activation_info(a)->name) != NULL;
  CHECK(ok, "an unknown activation is refused naming every table entry: %s", err.msg);
  config_destroy(&cfg);
}

/* E act(g) and E act(g)^2, g ~ N(0, 1), by Simpson's rule on [-12, 12]
 * (the kinks at 0 are on a node of the grid) */
static void gauss_moments(const tsim_activation_info *e, double *m1, double *m2) {
  const int n = 24000;
  const double h = 24.0 / n;
  double s1 = 0.0, s2 = 0.0;
  for (int i = 0; i <= n; ++i) {
    const double z = -12.0 + h * i, w = (i == 0 || i == n) ? 1.0 : (i % 2 ? 4.0 : 2.0);
    const double phi = exp(-0.5 * z * z) / sqrt(2.0 * 3.14159265358979323846);
    const double v = e->value(z);
    s1 += w * v * phi;
    s2 += w * v * v * phi;
  }
  *m1 = s1 * h / 3.0;
  *m2 = s2 * h / 3.0;
}

static void test_numbers(void) {
  const double zs[] = {-1.7, -0.3, 0.45, 2.2};
  const double h = 1e-5, h2 = 1e-4;
  for (int a = 0; a < ACT_COUNT; ++a) {
    const tsim_activation_info *e = activation_info(a);
    double slope = 0.0, curv = 0.0, homog = 0.0;
    int even = 1;
    for (int i = 0; i < 4; ++i) {
      const double z = zs[i];
      const double fd1 = (e->value(z + h) - e->value(z - h)) / (2 * h);
      const double fd2 = (e->value(z + h2) - 2 * e->value(z) + e->value(z - h2)) / (h2 * h2);
      slope = fmax(slope, fabs(fd1 - e->slope(z)));
      if (!e->smooth) curv = fmax(curv, fabs(fd2 - e->curvature));
      else /* act'' against central differences of act' */
        curv = fmax(curv, fabs((e->slope(z + h) - e->slope(z - h)) / (2 * h) - e->second(z)));
      if (e->degree > 0.0)
        homog = fmax(homog, fabs(e->value(3.0 * z) - pow(3.0, e->degree) * e->value(z)));
      even &= e->value(-z) == e->value(z);
    }
    CHECK(slope < 1e-8 && curv < (e->smooth ? 1e-8 : 1e-4),
          "%s: slope and curvature (%s) = finite differences of the value (of the slope) off "
          "the kinks (%.2g, %.2g)", e->name, e->smooth ? "act''(z)" : "constant", slope, curv);
    CHECK(homog < 1e-12 && even == e->even,
          "%s: act(3z) = 3^%g act(z) (0: not homogeneous), %s", e->name, e->degree,
          e->even ? "even" : "not even");
    if (a == ACT_QUADRATIC || a == ACT_RELU || a == ACT_ABS)
      CHECK(e->slope(0.0) == 0.0 && e->value(0.0) == 0.0,
            "%s: act(0) = act'(0) = 0 (the subgradient at a kink)", e->name);
    double m1, m2;
    gauss_moments(e, &m1, &m2);
    switch (e->population) {
      case ACT_POP_NONE:
        CHECK(1, "%s: no population closed form", e->name);
        break;
      case ACT_POP_ISSERLIS: /* k(u, u) = 3 |u|^4, k(u, w) = |u|^2 |w|^2 for u ⊥ w */
        CHECK(fabs(m2 - 3.0) < 1e-10 && fabs(m1 * m1 - 1.0) < 1e-10,
              "%s: E act(g)^2 = %.12g (3), (E act(g))^2 = %.12g (1)", e->name, m2, m1 * m1);
        break;
      case ACT_POP_ARCCOS: /* k(u, u) = alpha |u|^2, k(u, w) = beta h(pi/2) = beta */
        CHECK(fabs(m2 - e->alpha) < 1e-10 && fabs(m1 * m1 - e->beta) < 1e-10,
              "%s: E act(g)^2 = %.12g = alpha %.12g, (E act(g))^2 = %.12g = beta %.12g",
              e->name, m2, e->alpha, m1 * m1, e->beta);
        break;
      case ACT_POP_ARCSIN: /* k(u, u) = (2/pi) asin(1/2) = 1/3, k(u, w) = 0 for u ⊥ w */
        CHECK(fabs(m2 - 1.0 / 3.0) < 1e-10 && fabs(m1) < 1e-12,
              "%s: E act(g)^2 = %.12g (1/3), E act(g) = %.3g (0)", e->name, m2, m1);
        break;
    }
  }
}

/* act(z) (and act'(z)) of the smooth activations against long double
 * libm (11 more bits: its own error is far below a double's ulp). */
#define PI_L 3.141592653589793238462643383279502884L
static long double reference(int a, long double z, int slope) {
  const long double E = expl(-fabsl(z)), pos = 1.0L / (1.0L + E), neg = E / (1.0L + E);
  switch (a) {
    case ACT_TANH: return slope ? 1.0L / (coshl(z) * coshl(z)) : tanhl(z);
    case ACT_SIGMOID: return slope ? pos * neg : (z >= 0 ? pos : neg);
    case ACT_SOFTPLUS: return slope ? (z >= 0 ? pos : neg) : (z > 0 ? z : 0) + log1pl(E);
    case ACT_ERF:
      return slope ? sqrtl(2.0L / PI_L) * expl(-0.5L * z * z) : erfl(z / sqrtl(2.0L));
    case ACT_GELU: {
      const long double Phi = 0.5L * erfcl(-z / sqrtl(2.0L));
      return slope ? Phi + z * expl(-0.5L * z * z) / sqrtl(2.0L * PI_L) : z * Phi;
    }
    default: return 0.0L;
  }
}

/* the error in ulps of the reference: log-spaced |z| in [1e-17, 1e4] and
 * uniform z in [-40, 40] and [-750, 750] (exp's underflow), both signs */
static double max_ulps(int a, int slope, double *where) {
  const tsim_activation_info *e = activation_info(a);
  double worst = 0.0;
  unsigned long long s = 12345;
  for (int i = 0; i < 600000; ++i) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    const double u = (double)(s >> 11) * 0x1p-53, sg = (s >> 10) & 1 ? 1.0 : -1.0;
    const double z = i % 3 == 0 ? sg * pow(10.0, -17.0 + 21.0 * u)
                                : (i % 3 == 1 ? 80.0 * u - 40.0 : 1500.0 * u - 750.0);
    const long double r = reference(a, z, slope);
    double v = slope ? e->slope(z) : e->value(z), rd = (double)r;
    if (rd == 0.0 && v == 0.0) continue;
    /* gelu below z = -37 (values near the subnormal range) is a product
     * of subnormals, within 30 ulp only; gelu' = Phi + z phi has a root near
     * -0.75 where the terms cancel: its error is in ulps of Phi(z) */
    if (a == ACT_GELU && z < -37.0) continue;
    if (a == ACT_GELU && slope) rd = (double)fmaxl(fabsl(r), 0.5L * erfcl(-z / sqrtl(2.0L)));
    const double ulp = fabs(rd) < 0x1p-1022 ? 0x1p-1074 : nextafter(fabs(rd), INFINITY) - fabs(rd);
    const double err = (double)(fabsl((long double)v - r) / ulp);
    if (err > worst) {
      worst = err;
      *where = z;
    }
  }
  return worst;
}

static void test_accuracy(void) {
  const double limit[][2] = {[ACT_TANH] = {2.0, 3.0}, [ACT_SIGMOID] = {2.0, 3.0},
                             [ACT_SOFTPLUS] = {2.0, 3.0}, [ACT_ERF] = {2.0, 3.0},
                             [ACT_GELU] = {3.0, 5.0}};
  for (int a = 0; a < ACT_COUNT; ++a) {
    if (!activation_info(a)->smooth) continue;
    for (int slope = 0; slope < 2; ++slope) {
      double at = 0.0;
      const double err = max_ulps(a, slope, &at);
      CHECK(err <= limit[a][slope], "%s: act%s(z) within %g ulp (max %.3f at z = %.17g)",
            activation_info(a)->name, slope ? "'" : "", limit[a][slope], err, at);
    }
  }
}

int main(void) {
  check_suite = "activation";
  test_entries();
  test_config();
  test_numbers();
  test_accuracy();
  return check_summary();
}
