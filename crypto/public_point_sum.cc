#include "crypto/public_point_sum.h"

#include <cstring>

namespace schakel::crypto {
namespace {

__extension__ using u128 = unsigned __int128;
using Fe = PublicPointSum::Fe;

constexpr uint64_t kMask = (uint64_t{1} << 51) - 1;

// Curve constants (RFC 9496 section 4.1), as 51-bit limbs.
constexpr Fe kZero = {{0, 0, 0, 0, 0}};
constexpr Fe kOne = {{1, 0, 0, 0, 0}};
constexpr Fe kD = {{0x34dca135978a3, 0x1a8283b156ebd, 0x5e7a26001c029, 0x739c663a03cbb, 0x52036cee2b6ff}};
constexpr Fe kD2 = {{0x69b9426b2f159, 0x35050762add7a, 0x3cf44c0038052, 0x6738cc7407977, 0x2406d9dc56dff}};
constexpr Fe kSqrtM1 = {{0x61b274a0ea0b0, 0xd5a5fc8f189d, 0x7ef5e9cbd0c60, 0x78595a6804c9e, 0x2b8324804fc1d}};
constexpr Fe kInvSqrtAMinusD = {{0xfdaa805d40ea, 0x2eb482e57d339, 0x7610274bc58, 0x6510b613dc8ff, 0x786c8905cfaff}};

Fe Carry(Fe h) {
  uint64_t c;
  for (int i = 0; i < 4; ++i) {
    c = h.v[i] >> 51;
    h.v[i] &= kMask;
    h.v[i + 1] += c;
  }
  c = h.v[4] >> 51;
  h.v[4] &= kMask;
  h.v[0] += c * 19;
  return h;
}

Fe Add(const Fe& f, const Fe& g) {
  Fe h;
  for (int i = 0; i < 5; ++i) h.v[i] = f.v[i] + g.v[i];
  return Carry(h);
}

// f - g, adding 4p first so no limb underflows (every limb of a carried g
// is below 2^52, and 4p's limbs are about 2^53).
Fe Sub(const Fe& f, const Fe& g) {
  constexpr uint64_t kFourP0 = 4 * 0x7ffffffffffed;  // 4·(2^51 - 19)
  constexpr uint64_t kFourP = 4 * 0x7ffffffffffff;   // 4·(2^51 - 1)
  Fe h;
  h.v[0] = f.v[0] + kFourP0 - g.v[0];
  for (int i = 1; i < 5; ++i) h.v[i] = f.v[i] + kFourP - g.v[i];
  return Carry(h);
}

Fe Neg(const Fe& f) { return Sub(kZero, f); }

// Carries five 128-bit column sums into a field element with limbs < 2^52.
Fe Reduce(u128 r0, u128 r1, u128 r2, u128 r3, u128 r4) {
  Fe h;
  h.v[0] = uint64_t(r0) & kMask;
  r1 += uint64_t(r0 >> 51);
  h.v[1] = uint64_t(r1) & kMask;
  r2 += uint64_t(r1 >> 51);
  h.v[2] = uint64_t(r2) & kMask;
  r3 += uint64_t(r2 >> 51);
  h.v[3] = uint64_t(r3) & kMask;
  r4 += uint64_t(r3 >> 51);
  h.v[4] = uint64_t(r4) & kMask;
  const u128 t = u128(h.v[0]) + (r4 >> 51) * 19;
  h.v[0] = uint64_t(t) & kMask;
  h.v[1] += uint64_t(t >> 51);
  return h;
}

// Schoolbook product with the reduction 2^255 = 19 folded in.
Fe Mul(const Fe& f, const Fe& g) {
  const uint64_t f0 = f.v[0], f1 = f.v[1], f2 = f.v[2], f3 = f.v[3], f4 = f.v[4];
  const uint64_t g0 = g.v[0], g1 = g.v[1], g2 = g.v[2], g3 = g.v[3], g4 = g.v[4];
  const uint64_t g1_19 = 19 * g1, g2_19 = 19 * g2, g3_19 = 19 * g3, g4_19 = 19 * g4;
  const u128 r0 = u128(f0) * g0 + u128(f1) * g4_19 + u128(f2) * g3_19 + u128(f3) * g2_19 + u128(f4) * g1_19;
  const u128 r1 = u128(f0) * g1 + u128(f1) * g0 + u128(f2) * g4_19 + u128(f3) * g3_19 + u128(f4) * g2_19;
  const u128 r2 = u128(f0) * g2 + u128(f1) * g1 + u128(f2) * g0 + u128(f3) * g4_19 + u128(f4) * g3_19;
  const u128 r3 = u128(f0) * g3 + u128(f1) * g2 + u128(f2) * g1 + u128(f3) * g0 + u128(f4) * g4_19;
  const u128 r4 = u128(f0) * g4 + u128(f1) * g3 + u128(f2) * g2 + u128(f3) * g1 + u128(f4) * g0;
  return Reduce(r0, r1, r2, r3, r4);
}

// Squaring: the symmetric cross terms computed once.
Fe Sq(const Fe& f) {
  const uint64_t f0 = f.v[0], f1 = f.v[1], f2 = f.v[2], f3 = f.v[3], f4 = f.v[4];
  const uint64_t d0 = 2 * f0, d1 = 2 * f1, d2 = 2 * f2, d3 = 2 * f3;
  const uint64_t f3_19 = 19 * f3, f4_19 = 19 * f4;
  const u128 r0 = u128(f0) * f0 + u128(d1) * f4_19 + u128(d2) * f3_19;
  const u128 r1 = u128(d0) * f1 + u128(d2) * f4_19 + u128(f3) * f3_19;
  const u128 r2 = u128(d0) * f2 + u128(f1) * f1 + u128(d3) * f4_19;
  const u128 r3 = u128(d0) * f3 + u128(d1) * f2 + u128(f4) * f4_19;
  const u128 r4 = u128(d0) * f4 + u128(d1) * f3 + u128(f2) * f2;
  return Reduce(r0, r1, r2, r3, r4);
}

Fe SqTimes(Fe f, int n) {
  for (int i = 0; i < n; ++i) f = Sq(f);
  return f;
}

Fe FromBytes(const uint8_t* s) {
  uint64_t w[4];
  for (int i = 0; i < 4; ++i) {
    w[i] = 0;
    for (int j = 7; j >= 0; --j) w[i] = (w[i] << 8) | s[8 * i + j];
  }
  Fe h;
  h.v[0] = w[0] & kMask;
  h.v[1] = ((w[0] >> 51) | (w[1] << 13)) & kMask;
  h.v[2] = ((w[1] >> 38) | (w[2] << 26)) & kMask;
  h.v[3] = ((w[2] >> 25) | (w[3] << 39)) & kMask;
  h.v[4] = (w[3] >> 12) & kMask;  // bit 255 is ignored here; callers check it
  return h;
}

// Canonical (fully reduced) little-endian encoding.
std::array<uint8_t, 32> ToBytes(Fe h) {
  h = Carry(Carry(h));
  // Subtract p if h ≥ p: q = 1 exactly when h + 19 overflows 2^255.
  uint64_t q = (h.v[0] + 19) >> 51;
  for (int i = 1; i < 5; ++i) q = (h.v[i] + q) >> 51;
  h.v[0] += 19 * q;
  for (int i = 0; i < 4; ++i) {
    h.v[i + 1] += h.v[i] >> 51;
    h.v[i] &= kMask;
  }
  h.v[4] &= kMask;
  const uint64_t w[4] = {h.v[0] | (h.v[1] << 51), (h.v[1] >> 13) | (h.v[2] << 38),
                         (h.v[2] >> 26) | (h.v[3] << 25), (h.v[3] >> 39) | (h.v[4] << 12)};
  std::array<uint8_t, 32> out;
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 8; ++j) out[8 * i + j] = uint8_t(w[i] >> (8 * j));
  }
  return out;
}

bool IsNegative(const Fe& f) { return (ToBytes(f)[0] & 1) != 0; }
bool IsZero(const Fe& f) {
  const auto b = ToBytes(f);
  uint8_t acc = 0;
  for (uint8_t x : b) acc |= x;
  return acc == 0;
}
bool Eq(const Fe& f, const Fe& g) { return ToBytes(f) == ToBytes(g); }
Fe Abs(const Fe& f) { return IsNegative(f) ? Neg(f) : f; }

// z^((p-5)/8) = z^(2^252 - 3).
Fe Pow22523(const Fe& z) {
  Fe t0 = Sq(z);                      // 2
  Fe t1 = SqTimes(t0, 2);             // 8
  t1 = Mul(z, t1);                    // 9
  t0 = Mul(t0, t1);                   // 11
  t0 = Sq(t0);                        // 22
  t0 = Mul(t1, t0);                   // 2^5 - 1
  t1 = SqTimes(t0, 5);
  t0 = Mul(t1, t0);                   // 2^10 - 1
  t1 = SqTimes(t0, 10);
  t1 = Mul(t1, t0);                   // 2^20 - 1
  Fe t2 = SqTimes(t1, 20);
  t1 = Mul(t2, t1);                   // 2^40 - 1
  t1 = SqTimes(t1, 10);
  t0 = Mul(t1, t0);                   // 2^50 - 1
  t1 = SqTimes(t0, 50);
  t1 = Mul(t1, t0);                   // 2^100 - 1
  t2 = SqTimes(t1, 100);
  t1 = Mul(t2, t1);                   // 2^200 - 1
  t1 = SqTimes(t1, 50);
  t0 = Mul(t1, t0);                   // 2^250 - 1
  t0 = SqTimes(t0, 2);                // 2^252 - 4
  return Mul(t0, z);                  // 2^252 - 3
}

// SQRT_RATIO_M1(u, v) of RFC 9496 section 4.2.
bool SqrtRatioM1(const Fe& u, const Fe& v, Fe& r) {
  const Fe v3 = Mul(Sq(v), v);
  const Fe v7 = Mul(Sq(v3), v);
  r = Mul(Mul(u, v3), Pow22523(Mul(u, v7)));
  const Fe check = Mul(v, Sq(r));
  const Fe minus_u = Neg(u);
  const bool correct_sign = Eq(check, u);
  const bool flipped_sign = Eq(check, minus_u);
  const bool flipped_sign_i = Eq(check, Mul(minus_u, kSqrtM1));
  if (flipped_sign || flipped_sign_i) r = Mul(r, kSqrtM1);
  r = Abs(r);
  return correct_sign || flipped_sign;
}

struct Point {
  Fe x, y, z, t;
};

// Decoding (RFC 9496 section 4.3.1). Returns false for anything that is not
// a canonical encoding of a valid element.
bool Decode(const std::array<uint8_t, 32>& bytes, Point& p) {
  const Fe s = FromBytes(bytes.data());
  if (ToBytes(s) != bytes || IsNegative(s)) return false;  // also refuses bit 255
  const Fe ss = Sq(s);
  const Fe u1 = Sub(kOne, ss);
  const Fe u2 = Add(kOne, ss);
  const Fe u2_sqr = Sq(u2);
  const Fe v = Sub(Neg(Mul(kD, Sq(u1))), u2_sqr);
  Fe invsqrt;
  const bool was_square = SqrtRatioM1(kOne, Mul(v, u2_sqr), invsqrt);
  const Fe den_x = Mul(invsqrt, u2);
  const Fe den_y = Mul(Mul(invsqrt, den_x), v);
  p.x = Abs(Mul(Add(s, s), den_x));
  p.y = Mul(u1, den_y);
  p.z = kOne;
  p.t = Mul(p.x, p.y);
  return was_square && !IsNegative(p.t) && !IsZero(p.y);
}

// Encoding (RFC 9496 section 4.3.2).
std::array<uint8_t, 32> Encode(const Point& p) {
  const Fe u1 = Mul(Add(p.z, p.y), Sub(p.z, p.y));
  const Fe u2 = Mul(p.x, p.y);
  Fe invsqrt;
  SqrtRatioM1(kOne, Mul(u1, Sq(u2)), invsqrt);
  const Fe den1 = Mul(invsqrt, u1);
  const Fe den2 = Mul(invsqrt, u2);
  const Fe z_inv = Mul(Mul(den1, den2), p.t);
  const bool rotate = IsNegative(Mul(p.t, z_inv));
  Fe x = rotate ? Mul(p.y, kSqrtM1) : p.x;
  Fe y = rotate ? Mul(p.x, kSqrtM1) : p.y;
  const Fe den_inv = rotate ? Mul(den1, kInvSqrtAMinusD) : den2;
  if (IsNegative(Mul(x, z_inv))) y = Neg(y);
  return ToBytes(Abs(Mul(den_inv, Sub(p.z, y))));
}

// Extended coordinates addition for a = -1 ("add-2008-hwcd-3"), complete on
// the prime-order group's points.
Point AddPoints(const Point& p, const Point& q) {
  const Fe a = Mul(Sub(p.y, p.x), Sub(q.y, q.x));
  const Fe b = Mul(Add(p.y, p.x), Add(q.y, q.x));
  const Fe c = Mul(Mul(p.t, kD2), q.t);
  const Fe d = Mul(Add(p.z, p.z), q.z);
  const Fe e = Sub(b, a);
  const Fe f = Sub(d, c);
  const Fe g = Add(d, c);
  const Fe h = Add(b, a);
  return Point{Mul(e, f), Mul(g, h), Mul(f, g), Mul(e, h)};
}

}  // namespace

PublicPointSum::PublicPointSum() : x_(kZero), y_(kOne), z_(kOne), t_(kZero) {}

void PublicPointSum::Add(const Element& e) {
  std::array<uint8_t, 32> bytes;
  std::memcpy(bytes.data(), e.bytes().data(), 32);
  Point p;
  if (!Decode(bytes, p)) {
    failed_ = true;
    return;
  }
  const Point sum = AddPoints(Point{x_, y_, z_, t_}, p);
  x_ = sum.x;
  y_ = sum.y;
  z_ = sum.z;
  t_ = sum.t;
}

void PublicPointSum::Merge(const PublicPointSum& other) {
  failed_ = failed_ || other.failed_;
  const Point sum = AddPoints(Point{x_, y_, z_, t_}, Point{other.x_, other.y_, other.z_, other.t_});
  x_ = sum.x;
  y_ = sum.y;
  z_ = sum.z;
  t_ = sum.t;
}

absl::StatusOr<Element> PublicPointSum::Sum() const {
  if (failed_) return absl::InternalError("public point sum: a term did not decode");
  const auto bytes = Encode(Point{x_, y_, z_, t_});
  // libsodium re-validates the result (canonical, not the identity).
  auto e = Element::FromBytes(bytes, "public point sum");
  if (!e.ok()) return absl::InternalError("public point sum: the sum is the identity or invalid");
  return e;
}

}  // namespace schakel::crypto
