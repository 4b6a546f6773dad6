#!/usr/bin/python3
"""erfc_pieces.py - the erfc table of src/act_vector.inc: R(a) =
erfc(a / sqrt 2) e^(a^2 / 2) on [0.75, 40] in 8 pieces, each a degree-19
polynomial in t = (a - mid) * ihw, |t| <= 1 (Chebyshev fits by mpmath at 40
digits), and the series coefficients of erf(a / sqrt 2) below a = 0.75.
Prints the worst relative error of the fits and the C initialisers."""
import mpmath as mp

mp.mp.dps = 40
BOUNDS = [0.75, 1.25, 2, 3.25, 5.5, 9, 15, 25, 40]
N = 19


def R(a):
    return mp.erfc(a / mp.sqrt(2)) * mp.exp(a * a / 2)


mids, ihws, coefs, worst = [], [], [], 0
for lo, hi in zip(BOUNDS, BOUNDS[1:]):
    lo, hi = mp.mpf(lo), mp.mpf(hi)
    mid, hw = (lo + hi) / 2, (hi - lo) / 2
    poly = mp.chebyfit(lambda t: R(mid + hw * t), [-1, 1], N + 1)
    worst = max([worst] + [abs(mp.polyval(poly, t) / R(mid + hw * t) - 1)
                           for t in mp.linspace(-1, 1, 201)])
    mids.append(float(mid))
    ihws.append(float(1 / hw))
    coefs.append([float(c) for c in reversed(poly)])  # coefs[piece][degree]
print("/* worst relative error of the fits: %s */" % mp.nstr(worst, 3))
print("static const double erfc_mid[8] = {%s};" % ", ".join(map(repr, mids)))
print("static const double erfc_ihw[8] = {%s};" % ", ".join(map(repr, ihws)))
print("static const double erfc_coef[20][8] = {")
for j in range(N + 1):
    print("    {%s}," % ", ".join(repr(coefs[p][j]) for p in range(8)))
print("};")
# erf(a / sqrt 2) = a c0 + a sum_n c_n a^2n, c_n = sqrt(2/pi) (-1)^n / (n! (2n+1) 2^n)
c = [mp.sqrt(2 / mp.pi) * (-1) ** n / (mp.factorial(n) * (2 * n + 1) * 2 ** n)
     for n in range(14)]
print("/* series c_1..c_13: %s */" % ", ".join(repr(float(x)) for x in c[1:]))
