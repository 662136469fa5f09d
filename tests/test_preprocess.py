import numpy as np
import pytest

import mlp
from mlp.preprocess import FIELD, canvas_to_mnist, centre_of_mass, drawing_problems, ink, plain_resize


def canvas(height=280, width=280):
    image = np.zeros((height, width, 4), np.uint8)
    image[..., 3] = 255
    return image


def stroke(image, top, bottom, left, right, value=255):
    image[top:bottom, left:right, :3] = value
    return image


def extent(x):
    rows = np.flatnonzero((x.reshape(FIELD, FIELD) > 0.05).any(axis=1))
    cols = np.flatnonzero((x.reshape(FIELD, FIELD) > 0.05).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


@pytest.mark.parametrize("name,box", [
    ("small in a corner", (5, 45, 8, 20)),
    ("large", (10, 270, 100, 180)),
    ("thin", (40, 240, 138, 142)),
    ("thick", (40, 240, 100, 180)),
    ("off-centre", (150, 275, 200, 260)),
])
def test_any_digit_comes_out_centred_and_mnist_sized(name, box):
    x = canvas_to_mnist(stroke(canvas(), *box))
    assert x.shape == (784,) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    height, width = extent(x)
    assert max(height, width) in (20, 21)                    # the larger side is scaled to 20 px
    row, col = centre_of_mass(x)
    assert abs(row - 14) <= 1 and abs(col - 14) <= 1


def test_aspect_ratio_is_kept():
    x = canvas_to_mnist(stroke(canvas(), 40, 240, 90, 190))   # twice as tall as wide
    height, width = extent(x)
    assert height in (20, 21) and width in (10, 11)


def test_no_ink_means_none_and_transparent_ink_is_no_ink():
    assert canvas_to_mnist(canvas()) is None and plain_resize(canvas()) is None
    see_through = stroke(canvas(), 50, 150, 50, 150)
    see_through[..., 3] = 0
    assert canvas_to_mnist(see_through) is None
    assert ink(see_through).max() == 0


def test_ink_is_luminance_times_alpha():
    image = canvas(1, 3)
    image[0, 0] = [255, 255, 255, 255]
    image[0, 1] = [255, 0, 0, 255]
    image[0, 2] = [255, 255, 255, 128]
    assert np.allclose(ink(image)[0], [1.0, 0.299, 128 / 255], atol=1e-3)


def test_plain_resize_keeps_the_digit_where_it_was():
    x = plain_resize(stroke(canvas(), 5, 45, 8, 20))
    row, col = centre_of_mass(x)
    assert row < 4 and col < 3


def test_any_canvas_size_and_a_bad_array_is_refused():
    assert canvas_to_mnist(stroke(canvas(100, 400), 10, 90, 50, 70)).shape == (784,)
    with pytest.raises(ValueError, match="RGBA"):
        canvas_to_mnist(np.zeros((28, 28)))


def test_dots_and_blots_are_flagged():
    assert drawing_problems(stroke(canvas(), 100, 110, 100, 110)) == ["it is tiny, more a dot than a digit"]
    assert "blot" in drawing_problems(stroke(canvas(), 20, 260, 20, 260))[0]
    assert drawing_problems(stroke(canvas(), 40, 240, 135, 150)) == []
    assert drawing_problems(canvas()) == []


def draw_mnist_digit(x, scale, top, left):
    """An MNIST test digit drawn onto a 280×280 canvas at another scale and place."""
    from PIL import Image

    size = int(28 * scale)
    big = Image.fromarray((x.reshape(28, 28) * 255).astype(np.uint8)).resize((size, size), Image.Resampling.BILINEAR)
    image = canvas()
    image[top:top + size, left:left + size, :3] = np.asarray(big)[..., None]
    return image


def test_mnist_digits_redrawn_on_a_canvas_keep_the_models_accuracy(mnist):
    model = mlp.load(mlp.data.PROJECT_ROOT / "models" / "wide.npz")
    x_test, y_test = mnist[2][:300], mnist[3][:300]
    original = (model.predict(x_test) == y_test).mean()
    rng = np.random.default_rng(0)
    redrawn = []
    for x in x_test:
        scale = rng.uniform(3, 9.5)
        size = int(28 * scale)
        top, left = rng.integers(0, 280 - size + 1, size=2)
        redrawn.append(canvas_to_mnist(draw_mnist_digit(x, scale, top, left)))
    accuracy = (model.predict(np.stack(redrawn)) == y_test).mean()
    assert accuracy >= original - 0.04, (accuracy, original)
    naive = np.stack([plain_resize(draw_mnist_digit(x, 4, 0, 0)) for x in x_test])
    assert (model.predict(naive) == y_test).mean() < accuracy - 0.2   # why the recipe matters
