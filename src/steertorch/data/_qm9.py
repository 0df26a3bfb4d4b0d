r"""QM9 (Ramakrishnan et al. 2014): 133,885 small organic molecules (C, H, O, N, F; up to 9 heavy atoms) with
15 DFT properties, read from the published xyz archive.

The archive ``dsgdb9nsd.xyz.tar.bz2`` (figshare, collection 978904, "Quantum chemistry structures and properties
of 134 kilo molecules") holds one file ``dsgdb9nsd_XXXXXX.xyz`` per molecule:

- line 1: the number of atoms :math:`n`;
- line 2: ``gdb N`` and 15 properties, in order
  ``A B C mu alpha homo lumo gap r2 zpve U0 U H G Cv``;
- lines 3 to :math:`n + 2`: ``element x y z partial_charge`` (Angstrom; numbers may use Mathematica's ``*^``
  for the exponent, e.g. ``1.2*^-6``);
- then the harmonic frequencies, the SMILES (GDB and relaxed) and the InChI (not read).

Units after loading (:data:`QM9_UNITS`): the published units, except that the energies ``homo lumo gap zpve U0
U H G`` are converted from Hartree to eV (1 Ha = 27.211386245988 eV, CODATA 2018), as in PyTorch Geometric,
SchNetPack and the EGNN / SEGNN papers (which report errors in meV). So ``mu`` is in Debye, ``alpha`` in
Bohr^3, ``r2`` in Bohr^2, ``A B C`` in GHz and ``Cv`` in cal / (mol K). With ``atomization=True``,
``U0 U H G`` (and ``Cv``) become atomization quantities: the molecule's value minus the sum of its free atoms'
reference values (the archive's ``atomref.txt``, :data:`QM9_ATOMREF`), the usual regression targets.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import torch

__all__ = ["QM9", "QM9_PROPERTIES", "QM9_UNITS", "QM9_ATOMREF", "HARTREE_TO_EV", "load_qm9", "qm9_split"]

#: the 15 properties of line 2, in the file's order
QM9_PROPERTIES: tuple[str, ...] = ("A", "B", "C", "mu", "alpha", "homo", "lumo", "gap", "r2", "zpve", "U0", "U",
                                   "H", "G", "Cv")
HARTREE_TO_EV = 27.211386245988
_ENERGIES = ("homo", "lumo", "gap", "zpve", "U0", "U", "H", "G")
#: units of the loaded properties
QM9_UNITS: dict[str, str] = {"A": "GHz", "B": "GHz", "C": "GHz", "mu": "D", "alpha": "a0^3", "r2": "a0^2",
                             "Cv": "cal/(mol K)", **{k: "eV" for k in _ENERGIES}}
#: atomic reference values of the free atoms (Hartree; Cv in cal/(mol K)), from the archive's ``atomref.txt``
QM9_ATOMREF: dict[str, dict[str, float]] = {
    "U0": {"H": -0.500273, "C": -37.846772, "N": -54.583861, "O": -75.064579, "F": -99.718730},
    "U": {"H": -0.498857, "C": -37.845355, "N": -54.582445, "O": -75.063163, "F": -99.717314},
    "H": {"H": -0.497912, "C": -37.844411, "N": -54.581501, "O": -75.062219, "F": -99.716370},
    "G": {"H": -0.510927, "C": -37.861317, "N": -54.598897, "O": -75.079532, "F": -99.733544},
    "Cv": {"H": 2.981, "C": 2.981, "N": 2.981, "O": 2.981, "F": 2.981},
}
_Z = {"H": 1, "C": 6, "N": 7, "O": 8, "F": 9}
_SYMBOL = {z: s for s, z in _Z.items()}
_FILE = re.compile(r"dsgdb9nsd_(\d+)\.xyz$")
_WHERE = ("QM9: expected the published archive dsgdb9nsd.xyz.tar.bz2, or the folder it unpacks to (files "
          "dsgdb9nsd_000001.xyz ... dsgdb9nsd_133885.xyz), from https://doi.org/10.6084/m9.figshare.c.978904 "
          "(Ramakrishnan et al., Sci. Data 1, 140022 (2014))")


@dataclasses.dataclass
class QM9:
    r"""Molecules as concatenated tensors: ``z`` ``[N]`` atomic numbers, ``pos`` ``[N, 3]`` (Angstrom, float64),
    ``num_atoms`` ``[M]``, ``y`` ``[M, 15]`` the properties in the order of :data:`QM9_PROPERTIES` and the units of
    :data:`QM9_UNITS` (float64), ``index`` ``[M]`` the gdb numbers. ``ptr`` ``[M + 1]`` are the molecules' first
    atoms.

    >>> m = QM9(z=torch.tensor([6, 1, 1, 1, 1]), pos=torch.zeros(5, 3, dtype=torch.float64),
    ...         num_atoms=torch.tensor([5]), y=torch.zeros(1, 15, dtype=torch.float64), index=torch.tensor([1]))
    >>> len(m), m.target("U0").shape, m.ptr.tolist()
    (1, torch.Size([1]), [0, 5])
    """

    z: torch.Tensor
    pos: torch.Tensor
    num_atoms: torch.Tensor
    y: torch.Tensor
    index: torch.Tensor

    def __post_init__(self) -> None:
        m = self.num_atoms.shape[0]
        n = int(self.num_atoms.sum())
        if self.z.shape != (n,) or self.pos.shape != (n, 3) or self.y.shape != (m, len(QM9_PROPERTIES)) \
                or self.index.shape != (m,):
            raise ValueError(f"QM9: inconsistent shapes z {list(self.z.shape)}, pos {list(self.pos.shape)}, "
                             f"num_atoms {list(self.num_atoms.shape)} (sum {n}), y {list(self.y.shape)}, "
                             f"index {list(self.index.shape)}")

    def __len__(self) -> int:
        return int(self.num_atoms.shape[0])

    @property
    def ptr(self) -> torch.Tensor:
        return torch.cat([self.num_atoms.new_zeros(1), torch.cumsum(self.num_atoms, 0)])

    def target(self, name: str) -> torch.Tensor:
        """The property ``name`` (one of :data:`QM9_PROPERTIES`) of every molecule, ``[M]``."""
        if name not in QM9_PROPERTIES:
            raise ValueError(f"QM9: unknown property {name!r}; the properties are {', '.join(QM9_PROPERTIES)}")
        return self.y[:, QM9_PROPERTIES.index(name)]

    def subset(self, idx: torch.Tensor | Sequence[int]) -> QM9:
        """The molecules ``idx`` (in that order)."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        ptr = self.ptr
        atoms = torch.cat([torch.arange(int(ptr[i]), int(ptr[i + 1])) for i in idx.tolist()]) if idx.numel() \
            else torch.zeros(0, dtype=torch.long)
        return QM9(z=self.z[atoms], pos=self.pos[atoms], num_atoms=self.num_atoms[idx], y=self.y[idx],
                   index=self.index[idx])


def _float(s: str) -> float:
    return float(s.replace("*^", "e"))


def _parse(name: str, lines: list[str]) -> tuple[int, list[int], list[list[float]], list[float]]:
    """One molecule file -> (gdb index, atomic numbers, positions, 15 raw properties)."""
    try:
        n = int(lines[0])
        head = lines[1].split()
        if head[0] != "gdb" or len(head) != 2 + len(QM9_PROPERTIES):
            raise ValueError(f"line 2 must be 'gdb N' and {len(QM9_PROPERTIES)} properties, got {lines[1]!r}")
        props = [_float(v) for v in head[2:]]
        z, pos = [], []
        for line in lines[2:2 + n]:
            parts = line.split()
            if parts[0] not in _Z:
                raise ValueError(f"unknown element {parts[0]!r}")
            z.append(_Z[parts[0]])
            pos.append([_float(v) for v in parts[1:4]])
        if len(z) != n:
            raise ValueError(f"{n} atoms announced, {len(z)} atom lines")
        return int(head[1]), z, pos, props
    except (ValueError, IndexError) as e:
        raise ValueError(f"QM9: {name} is not a QM9 xyz file ({e})") from None


def _files(path: Path) -> Iterator[tuple[str, list[str]]]:
    if path.is_dir():
        names = sorted(p for p in path.iterdir() if _FILE.search(p.name))
        for p in names:
            yield p.name, p.read_text().splitlines()
        return
    with tarfile.open(path, "r:*") as archive:
        for member in archive:
            if member.isfile() and _FILE.search(member.name):
                f = archive.extractfile(member)
                assert f is not None
                yield member.name, f.read().decode().splitlines()


def _uncharacterized(path: Path) -> set[int]:
    """The gdb numbers listed in ``uncharacterized.txt`` (beside the data), or an empty set."""
    folder = path if path.is_dir() else path.parent
    f = folder / "uncharacterized.txt"
    if not f.is_file():
        raise FileNotFoundError(f"QM9: exclude='uncharacterized' needs {f} (the archive's list of the 3,054 "
                                f"molecules that failed the geometry consistency check, figshare file 3195404)")
    out = set()
    for line in f.read_text().splitlines():
        parts = line.split()
        if parts and parts[0].isdigit():
            out.add(int(parts[0]))
    return out


def load_qm9(path: str | os.PathLike, atomization: bool = False, exclude: str | Iterable[int] | None = None,
             limit: int | None = None) -> QM9:
    r"""Read QM9 from the published archive ``dsgdb9nsd.xyz.tar.bz2`` or the folder it unpacks to.

    Args:
        path: the archive or the folder of ``dsgdb9nsd_XXXXXX.xyz`` files.
        atomization: subtract the free atoms' reference values (:data:`QM9_ATOMREF`) from ``U0 U H G Cv``.
        exclude: gdb numbers to leave out, or ``"uncharacterized"`` for the 3,054 molecules listed in
            ``uncharacterized.txt`` next to the data (as the Cormorant / EGNN / SEGNN splits do).
        limit: read only the first ``limit`` molecules (in the order of the file names).

    Returns a :class:`QM9`, molecules ordered by gdb number. Reading the 133,885 files takes about a minute;
    keep the result (``torch.save`` of its fields) when you train repeatedly.

    Raises ``FileNotFoundError`` naming the expected files and where they come from when ``path`` is absent or
    holds none of them, and ``ValueError`` naming the file for a malformed one.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "dsgdb9nsd_000001.xyz").write_text(
    ...     "2\ngdb 1\t1 2 3 0.5 10 -0.3 0.1 0.4 30 0.01 -40.4 -40.4 -40.4 -40.5 6.4\n"
    ...     "C\t0.0 0.0 0.0\t-0.5\nH\t1.09*^0 0.0 0.0\t0.1\n1000.0\nC C\nInChI=1S/CH4/h1H4\tInChI=1S/CH4/h1H4\n")
    >>> data = load_qm9(folder)
    >>> data.z.tolist(), data.pos[1].tolist(), round(float(data.target("homo")), 4)
    ([6, 1], [1.09, 0.0, 0.0], -8.1634)
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"QM9: {path} does not exist. {_WHERE}")
    skip = _uncharacterized(path) if exclude == "uncharacterized" else set(exclude or ())
    index, z, pos, props, counts = [], [], [], [], []
    for name, lines in _files(path):
        if limit is not None and len(index) >= limit:
            break
        i, zi, pi, yi = _parse(name, lines)
        if i in skip:
            continue
        index.append(i)
        z.extend(zi)
        pos.extend(pi)
        props.append(yi)
        counts.append(len(zi))
    if not index:
        raise FileNotFoundError(f"QM9: no dsgdb9nsd_*.xyz file in {path}. {_WHERE}")
    order = torch.argsort(torch.tensor(index))
    data = QM9(z=torch.tensor(z, dtype=torch.long), pos=torch.tensor(pos, dtype=torch.float64),
               num_atoms=torch.tensor(counts, dtype=torch.long), y=torch.tensor(props, dtype=torch.float64),
               index=torch.tensor(index, dtype=torch.long))
    if not torch.equal(order, torch.arange(len(index))):
        data = data.subset(order)
    if atomization:
        mol = torch.repeat_interleave(torch.arange(len(data)), data.num_atoms)
        for key, refs in QM9_ATOMREF.items():
            per_z = torch.zeros(10, dtype=torch.float64)
            for symbol, value in refs.items():
                per_z[_Z[symbol]] = value
            data.y[:, QM9_PROPERTIES.index(key)] -= torch.zeros(len(data), dtype=torch.float64).index_add_(
                0, mol, per_z[data.z])
    scale = torch.ones(len(QM9_PROPERTIES), dtype=torch.float64)
    for key in _ENERGIES:
        scale[QM9_PROPERTIES.index(key)] = HARTREE_TO_EV
    data.y *= scale
    return data


def qm9_split(n: int, num_train: int = 110_000, num_valid: int = 10_000, seed: int = 0
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""A random split of ``n`` molecules into ``num_train`` / ``num_valid`` / the rest (test), drawn with
    ``torch.randperm`` from a generator seeded with ``seed``.

    The defaults are the split of SchNet, DimeNet and PaiNN (110,000 / 10,000 / 13,885 of the 133,885
    molecules); the Cormorant / EGNN / SEGNN split is ``num_train=100_000, num_valid=17_748`` after
    ``exclude="uncharacterized"`` (130,831 molecules, test 13,083). Same arguments, same split.

    >>> train, valid, test = qm9_split(10, num_train=6, num_valid=2)
    >>> len(train), len(valid), len(test), sorted(torch.cat([train, valid, test]).tolist()) == list(range(10))
    (6, 2, 2, True)
    """
    if num_train < 0 or num_valid < 0 or num_train + num_valid > n:
        raise ValueError(f"qm9_split: need num_train + num_valid <= n, got {num_train} + {num_valid} > {n}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[:num_train], perm[num_train:num_train + num_valid], perm[num_train + num_valid:]
