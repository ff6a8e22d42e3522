"""N-body: the Jovian planets orbiting the sun, integrated with a fixed time step.

Exercises: float arithmetic (`*`, `-`, `+=`, `**`, division), lists of lists as mutable records,
tuples of pairs unpacked in `for` loops, nested loops, list indexing and item stores, a call per
step, `import math` inside a function. The bodies and constants are the benchmarks-game ones, so the
energies are known: n=1000 -> -0.169075164 before, -0.169087605 after (to 9 decimals).
"""

from __future__ import annotations

NUMERIC = True
SIZES = {"test": 50, "bench": 12000}

PI = 3.14159265358979323
SOLAR_MASS = 4 * PI * PI
DAYS_PER_YEAR = 365.24


def make_bodies() -> list[list[float]]:
    """The sun and four planets as [x, y, z, vx, vy, vz, mass] (AU, AU/year, solar masses)."""
    d, m = DAYS_PER_YEAR, SOLAR_MASS
    return [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, m],
        [4.84143144246472090e00, -1.16032004402742839e00, -1.03622044471123109e-01,
         1.66007664274403694e-03 * d, 7.69901118419740425e-03 * d, -6.90460016972063023e-05 * d,
         9.54791938424326609e-04 * m],
        [8.34336671824457987e00, 4.12479856412430479e00, -4.03523417114321381e-01,
         -2.76742510726862411e-03 * d, 4.99852801234917238e-03 * d, 2.30417297573763929e-05 * d,
         2.85885980666130812e-04 * m],
        [1.28943695621391310e01, -1.51111514016986312e01, -2.23307578892655734e-01,
         2.96460137564761618e-03 * d, 2.37847173959480950e-03 * d, -2.96589568540237556e-05 * d,
         4.36624404335156298e-05 * m],
        [1.53796971148509165e01, -2.59193146099879641e01, 1.79258772950371181e-01,
         2.68067772490389322e-03 * d, 1.62824170038242295e-03 * d, -9.51592254519715870e-05 * d,
         5.15138902046611451e-05 * m],
    ]


def make_pairs(bodies: list[list[float]]) -> list[tuple[list[float], list[float]]]:
    """Every unordered pair of bodies, as tuples (the lists inside are shared with `bodies`)."""
    pairs = []
    for i in range(len(bodies)):
        for j in range(i + 1, len(bodies)):
            pairs.append((bodies[i], bodies[j]))
    return pairs


def offset_momentum(bodies: list[list[float]]) -> None:
    """Give the sun the velocity that makes the system's total momentum zero."""
    px = py = pz = 0.0
    for body in bodies:
        mass = body[6]
        px -= body[3] * mass
        py -= body[4] * mass
        pz -= body[5] * mass
    sun = bodies[0]
    sun[3] = px / SOLAR_MASS
    sun[4] = py / SOLAR_MASS
    sun[5] = pz / SOLAR_MASS


def energy(bodies: list[list[float]], pairs: list[tuple[list[float], list[float]]]) -> float:
    """Kinetic minus potential energy of the system."""
    import math

    e = 0.0
    for a, b in pairs:
        dx = a[0] - b[0]
        dy = a[1] - b[1]
        dz = a[2] - b[2]
        e -= a[6] * b[6] / math.sqrt(dx * dx + dy * dy + dz * dz)
    for body in bodies:
        e += 0.5 * body[6] * (body[3] * body[3] + body[4] * body[4] + body[5] * body[5])
    return e


def advance(bodies: list[list[float]], pairs: list[tuple[list[float], list[float]]], dt: float) -> None:
    """One symplectic Euler step: update velocities from pairwise gravity, then positions."""
    for a, b in pairs:
        dx = a[0] - b[0]
        dy = a[1] - b[1]
        dz = a[2] - b[2]
        mag = dt * (dx * dx + dy * dy + dz * dz) ** -1.5
        bm = b[6] * mag
        am = a[6] * mag
        a[3] -= dx * bm
        a[4] -= dy * bm
        a[5] -= dz * bm
        b[3] += dx * am
        b[4] += dy * am
        b[5] += dz * am
    for body in bodies:
        body[0] += dt * body[3]
        body[1] += dt * body[4]
        body[2] += dt * body[5]


def run(n: int) -> tuple[float, float]:
    """Integrate n steps of 0.01 years; return the energy before and after."""
    bodies = make_bodies()
    pairs = make_pairs(bodies)
    offset_momentum(bodies)
    before = energy(bodies, pairs)
    for _ in range(n):
        advance(bodies, pairs, 0.01)
    return before, energy(bodies, pairs)
