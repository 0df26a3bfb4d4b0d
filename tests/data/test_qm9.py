"""QM9 loader on small files of the published layout written here: parsing (``*^`` exponents, tabs), units,
atomization energies, the archive, exclusions, splits, and the errors for absent or malformed data."""

from __future__ import annotations

import tarfile

import pytest
import torch

from steertorch.data import HARTREE_TO_EV, QM9_PROPERTIES, load_qm9, qm9_split

# gdb 1 (methane), gdb 2 (ammonia, with a Mathematica exponent as in the archive) and gdb 3 (water)
_FILES = {
    1: "5\ngdb 1\t157.7118\t157.70997\t157.70699\t0.\t13.21\t-0.3877\t0.1171\t0.5048\t35.3641\t0.044749\t"
       "-40.47893\t-40.476062\t-40.475117\t-40.498597\t6.469\t\n"
       "C\t-0.0126981359\t 1.0858041578\t 0.0080009958\t-0.535689\n"
       "H\t 0.002150416\t-0.0060313176\t 0.0019761204\t 0.133921\n"
       "H\t 1.0117308433\t 1.4637511618\t 0.0002765748\t 0.133922\n"
       "H\t-0.540815069\t 1.4475266138\t-0.8766437152\t 0.133923\n"
       "H\t-0.5238136345\t 1.4379326443\t 0.9063972942\t 0.133923\n"
       "1341.307\t1341.3284\t1341.365\t1562.6731\t1562.7453\t3038.3205\t3151.6034\t3151.6788\t3151.7078\n"
       "C\tC\t\nInChI=1S/CH4/h1H4\tInChI=1S/CH4/h1H4\n",
    2: "4\ngdb 2\t293.60975\t293.54111\t191.39397\t1.6256\t9.46\t-0.257\t0.0829\t0.3399\t26.1563\t0.034358\t"
       "-56.525887\t-56.523026\t-56.522082\t-56.544961\t6.316\t\n"
       "N\t-0.0404260543\t 1.0241077531\t 0.0625637998\t-0.707143\n"
       "H\t 0.0172574639\t 0.0125452063\t-0.0273771593\t 0.235712\n"
       "H\t 0.9157893661\t 1.3587451948\t-0.0287577581\t 0.235712\n"
       "H\t-0.5202777357\t 1.3435321258\t-0.7755426124\t 2.3*^-6\n"
       "1102.8551\t1686.5402\t1686.5546\t3457.0815\t3580.4104\t3580.6324\n"
       "N\tN\t\nInChI=1S/H3N/h1H3\tInChI=1S/H3N/h1H3\n",
    3: "3\ngdb 3\t799.58812\t437.90386\t282.94545\t1.8511\t6.31\t-0.2928\t0.0687\t0.3615\t19.0002\t0.021375\t"
       "-76.404702\t-76.401867\t-76.400922\t-76.422349\t6.002\t\n"
       "O\t-0.0343604951\t 0.9775395708\t 0.0076015923\t-0.589706\n"
       "H\t 0.0647664923\t 0.0205721989\t 0.0015346341\t 0.294853\n"
       "H\t 0.8717903737\t 1.300792008\t 7.0*^-8\t 0.294853\n"
       "1591.2589\t3892.3591\t3988.4926\n"
       "O\tO\t\nInChI=1S/H2O/h1H2\tInChI=1S/H2O/h1H2\n",
}


def _write(folder, indices=(3, 1, 2)):
    folder.mkdir(parents=True, exist_ok=True)
    for i in indices:
        (folder / f"dsgdb9nsd_{i:06d}.xyz").write_text(_FILES[i])
    return folder


def test_parses_the_published_layout_with_units(tmp_path):
    data = load_qm9(_write(tmp_path / "qm9"))
    assert len(data) == 3 and data.index.tolist() == [1, 2, 3]  # ordered by gdb number
    assert data.num_atoms.tolist() == [5, 4, 3] and data.ptr.tolist() == [0, 5, 9, 12]
    assert data.z.tolist() == [6, 1, 1, 1, 1, 7, 1, 1, 1, 8, 1, 1]
    assert data.pos.dtype == torch.float64 and data.pos.shape == (12, 3)
    assert data.pos[0].tolist() == [-0.0126981359, 1.0858041578, 0.0080009958]
    assert data.pos[11, 2].item() == 7.0e-8  # "7.0*^-8"
    assert data.y.shape == (3, 15)
    # energies in eV, the rest in the published units
    assert data.target("homo")[0].item() == pytest.approx(-0.3877 * HARTREE_TO_EV, rel=1e-12)
    assert data.target("U0")[2].item() == pytest.approx(-76.404702 * 27.211386245988, rel=1e-12)
    assert data.target("mu").tolist() == [0.0, 1.6256, 1.8511]  # Debye
    assert data.target("alpha").tolist() == [13.21, 9.46, 6.31]  # Bohr^3
    assert data.target("A")[0].item() == 157.7118 and data.target("Cv")[1].item() == 6.316
    assert data.target("r2")[1].item() == 26.1563
    with pytest.raises(ValueError, match="unknown property 'u0'.*U0"):
        data.target("u0")
    assert list(QM9_PROPERTIES) == "A B C mu alpha homo lumo gap r2 zpve U0 U H G Cv".split()


def test_atomization_energies(tmp_path):
    raw = load_qm9(_write(tmp_path / "qm9"))
    atom = load_qm9(tmp_path / "qm9", atomization=True)
    # methane: U0 - (U0_C + 4 U0_H), in eV: about -17.2 eV (the known atomization energy at 0 K)
    expected = (-40.47893 - (-37.846772 + 4 * -0.500273)) * HARTREE_TO_EV
    assert atom.target("U0")[0].item() == pytest.approx(expected, rel=1e-12)
    assert -17.3 < expected < -17.1
    # water, G: G - (G_O + 2 G_H)
    expected_g = (-76.422349 - (-75.079532 + 2 * -0.510927)) * HARTREE_TO_EV
    assert atom.target("G")[2].item() == pytest.approx(expected_g, rel=1e-12)
    assert atom.target("Cv")[1].item() == pytest.approx(6.316 - 4 * 2.981)
    others = [QM9_PROPERTIES.index(k) for k in ("A", "mu", "homo", "gap", "zpve")]
    assert torch.equal(atom.y[:, others], raw.y[:, others])


def test_archive_equals_folder_and_limit_and_subset(tmp_path):
    folder = _write(tmp_path / "dsgdb9nsd")
    archive = tmp_path / "dsgdb9nsd.xyz.tar.bz2"
    with tarfile.open(archive, "w:bz2") as tar:
        for i in (2, 3, 1):
            tar.add(folder / f"dsgdb9nsd_{i:06d}.xyz", arcname=f"dsgdb9nsd_{i:06d}.xyz")
    a, b = load_qm9(folder), load_qm9(archive)
    for name in ("z", "pos", "num_atoms", "y", "index"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert load_qm9(folder, limit=2).index.tolist() == [1, 2]
    sub = a.subset([2, 0])
    assert sub.index.tolist() == [3, 1] and sub.z.tolist() == [8, 1, 1, 6, 1, 1, 1, 1]
    assert torch.equal(sub.pos[3:], a.pos[:5])


def test_exclusions(tmp_path):
    folder = _write(tmp_path / "qm9")
    assert load_qm9(folder, exclude=[2]).index.tolist() == [1, 3]
    with pytest.raises(FileNotFoundError, match="uncharacterized.txt"):
        load_qm9(folder, exclude="uncharacterized")
    (folder / "uncharacterized.txt").write_text(
        "  Index     SMILES     Error\n=====\n      3  O   O  0.1\n=====\n")
    assert load_qm9(folder, exclude="uncharacterized").index.tolist() == [1, 2]


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"does not exist.*dsgdb9nsd\.xyz\.tar\.bz2.*figshare"):
        load_qm9(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no dsgdb9nsd_\*\.xyz file.*dsgdb9nsd_000001\.xyz"):
        load_qm9(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "dsgdb9nsd_000007.xyz").write_text("2\ngdb 7\t1 2 3\nC 0 0 0 0\nH 1 0 0 0\n")
    with pytest.raises(ValueError, match="dsgdb9nsd_000007.xyz is not a QM9 xyz file"):
        load_qm9(bad)
    (bad / "dsgdb9nsd_000007.xyz").write_text(_FILES[3].replace("O\t-0.03", "Xx\t-0.03"))
    with pytest.raises(ValueError, match="unknown element 'Xx'"):
        load_qm9(bad)


def test_split_is_fixed_disjoint_and_complete():
    train, valid, test = qm9_split(1000, num_train=700, num_valid=100, seed=0)
    assert (len(train), len(valid), len(test)) == (700, 100, 200)
    assert sorted(torch.cat([train, valid, test]).tolist()) == list(range(1000))
    again = qm9_split(1000, num_train=700, num_valid=100, seed=0)
    assert all(torch.equal(u, v) for u, v in zip((train, valid, test), again))
    assert not torch.equal(train, qm9_split(1000, num_train=700, num_valid=100, seed=1)[0])
    default = qm9_split(133_885)
    assert [len(s) for s in default] == [110_000, 10_000, 13_885]
    with pytest.raises(ValueError, match="num_train \\+ num_valid <= n"):
        qm9_split(100)
