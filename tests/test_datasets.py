"""tinybench.datasets: an image folder (one subfolder per class) as the suite's data, and `tinybench run --dataset`."""
import numpy as np
import pytest
import torch
from PIL import Image

import tinybench.cli as cli
from tinybench.datasets import load_image_folder
from tinybench.suite import SuiteResult


def make_folder(root, sizes=((6, 4),), per_class=3, classes=("cat", "dog", "emu"), kind="png"):
    "Class k's images are filled with red = 40 k + i (i: the image's index): labels and pixels are known."
    for k, c in enumerate(classes):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            w, h = sizes[(k * per_class + i) % len(sizes)]
            img = Image.new("RGB", (w, h), (40 * k + i, 10, 200))
            img.save(root / c / f"{i}.{kind}", **({"quality": 95} if kind == "jpg" else {}))
    return root


def test_labels_come_from_sorted_folder_names_and_pixels_are_normalised(tmp_path):
    root = make_folder(tmp_path / "d")
    (root / "notes.txt").write_text("not an image, not a class")
    (root / "cat" / "readme.md").write_text("ignored: not an image")
    unit = load_image_folder(root, normalize="unit")
    assert unit.X.shape == (9, 3, 4, 6) and unit.X.dtype == np.float32 and unit.X.flags.c_contiguous
    assert unit.classes == ["cat", "dog", "emu"] and unit.y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert [f.parent.name for f in unit.files] == ["cat"] * 3 + ["dog"] * 3 + ["emu"] * 3
    assert np.allclose(unit.X[4, :, 2, 3], np.array([41, 10, 200]) / 255.0)  # dog (k=1), image 1
    raw = load_image_folder(root, normalize="none")
    assert np.array_equal(raw.X[4, :, 0, 0], [41.0, 10.0, 200.0])
    imagenet = load_image_folder(root)  # the default: torchvision's pretrained-model normalisation
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    assert np.allclose(imagenet.X[4, :, 0, 0], (np.array([41, 10, 200]) / 255.0 - mean) / std, atol=1e-6)


def test_image_size_resizes_mixed_sizes_and_without_it_the_error_names_two_files(tmp_path):
    root = make_folder(tmp_path / "d", sizes=((6, 4), (8, 8)), kind="jpg")
    with pytest.raises(ValueError, match=r"images differ in size: .*0\.jpg is 6x4, .*1\.jpg is 8x8 .*--image-size"):
        load_image_folder(root)
    data = load_image_folder(root, image_size=(5, 7))
    assert data.X.shape == (9, 3, 5, 7)
    assert load_image_folder(root, image_size=16).X.shape == (9, 3, 16, 16)


@pytest.mark.parametrize("setup, message", [
    (lambda root: None, "no such folder"),
    (lambda root: root.mkdir(), "has no class subfolders"),
    (lambda root: (root / "cat").mkdir(parents=True), "hold no PNG or JPEG images"),
])
def test_an_empty_or_missing_folder_is_a_clear_error(tmp_path, setup, message):
    root = tmp_path / "d"
    setup(root)
    with pytest.raises(ValueError, match=message):
        load_image_folder(root)


def test_an_unreadable_image_is_named(tmp_path):
    root = make_folder(tmp_path / "d")
    (root / "dog" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match=r"cannot read image .*dog/broken\.png"):
        load_image_folder(root)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"normalize": "z-score"}, ValueError, "normalize must be one of"),
    ({"image_size": 0}, ValueError, "image_size"),
    ({"image_size": "224"}, TypeError, "image_size must be an int or"),
    ({"image_size": (224, 224, 3)}, TypeError, "image_size must be an int or"),
])
def test_bad_options_are_clear_errors(tmp_path, kwargs, error, message):
    root = make_folder(tmp_path / "d")
    with pytest.raises(error, match=message):
        load_image_folder(root, **kwargs)


def test_tinybench_run_dataset_folder_with_num_runs(tmp_path, capsys):
    """`tinybench run --dataset DIR --image-size 8 --num-runs 4`: the folder's images are the suite's data (labels from
    the folder names), and --num-runs sets the interleaved rounds."""
    root = make_folder(tmp_path / "d", sizes=((12, 10), (9, 9)), per_class=4)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 3))
    torch.jit.save(torch.jit.script(model), tmp_path / "m.pt")
    args = ["run", "--models", f"m:{tmp_path / 'm.pt'}", "--dataset", str(root), "--image-size", "8",
            "--num-runs", "4", "--fixed-rounds", "--save-dir", str(tmp_path / "out"), "--quick", "--quiet",
            "--scenarios", "", "--batch-sizes", "1,4", "--report-format", "json"]
    assert cli.main(args) == 0
    (folder,) = (tmp_path / "out").iterdir()
    r = SuiteResult.load(folder / "results.json")
    data = load_image_folder(root, image_size=8)
    with torch.inference_mode():
        expected = (model(torch.from_numpy(data.X)).argmax(1).numpy() == data.y).mean()
    assert r.n_samples == 12 and r.models["m"].accuracy == pytest.approx(expected)
    assert r.models["m"].timing.rounds == 4
    assert cli.main([*args[:5], "--data", str(tmp_path / "x.npz"), *args[5:]]) == 2
    assert "pass one" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # argparse: usage error, exit 2, with the message
        cli.main(["run", "--dataset", str(root), "--image-size", "8x", "--quick"])
    assert e.value.code == 2 and "--image-size must be N or HxW" in capsys.readouterr().err


def test_grayscale_folders_give_one_channel_and_the_default_model_runs_on_them(tmp_path, capsys):
    """A folder of grayscale PNGs loads as (N, 1, H, W) ("auto": every image is grayscale), normalised with the mean
    of ImageNet's channel means and stds; `channels=3` forces RGB; and the default digits CNN (1 × 8 × 8 inputs) runs
    on such a folder end to end (a user's 8 × 8 grayscale digits once became 3 channels and every model failed)."""
    root = tmp_path / "g"
    for k in range(2):
        (root / str(k)).mkdir(parents=True)
        for i in range(5):
            Image.new("L", (8, 8), 20 * k + i).save(root / str(k) / f"{i}.png")
    g = load_image_folder(root, normalize="imagenet")
    assert g.X.shape == (10, 1, 8, 8)
    mean, std = np.mean([0.485, 0.456, 0.406]), np.mean([0.229, 0.224, 0.225])
    assert g.X[0, 0, 0, 0] == pytest.approx((0 / 255 - mean) / std) and g.X[6, 0, 0, 0] == pytest.approx((21 / 255 - mean) / std)
    assert load_image_folder(root, channels=3).X.shape == (10, 3, 8, 8)
    Image.new("RGB", (8, 8), (1, 2, 3)).save(root / "1" / "colour.png")
    assert load_image_folder(root).X.shape == (11, 3, 8, 8), "one colour image: all RGB"
    (root / "1" / "colour.png").unlink()
    with pytest.raises(ValueError, match="channels must be 1, 3 or 'auto'"):
        load_image_folder(root, channels=2)
    out = tmp_path / "out"
    assert cli.main(["run", "--dataset", str(root), "--normalize", "unit", "--save-dir", str(out), "--quick", "--quiet",
                     "--scenarios", "", "--batch-sizes", "1", "--report-format", "json", "--batch-size", "4"]) == 0
    (folder,) = out.iterdir()
    r = SuiteResult.load(folder / "results.json")
    assert r.n_samples == 10 and all(m.ok for m in r.models.values()), {n: m.errors for n, m in r.models.items()}
