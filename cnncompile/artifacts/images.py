"""One image decoder for training and prediction: any Pillow mode to the model's pixels.

:func:`decode_image` gives uint8 pixels [H, W, C] on the textbook's 0-255 scale (spec-format
section 8); what the model is then fed is the preprocessing record's business
(:mod:`cnncompile.artifacts.preprocess`). The rules, in order:

- only a regular file of at most :data:`MAX_IMAGE_BYTES` is opened (a FIFO would block, a
  device never ends), and an image over :data:`MAX_IMAGE_PIXELS` is refused from its header;
- the EXIF orientation is applied, so a phone photo stands as it was taken;
- transparent pixels are composited over black (:data:`BACKGROUND`): the colour under a
  transparent pixel is arbitrary, black is "nothing there";
- 16-bit and 32-bit integer images are scaled by their true bit depth and float images from
  0-1, never clipped: a 16-bit PNG gives the pixels of its 8-bit twin;
- colour becomes luminance (ITU-R 601-2, Pillow's ``L``) for C = 1, grey is repeated for C = 3;
- the image is squashed, not cropped, to H x W with bilinear filtering (JPEGs are first decoded
  at a reduced scale where that still covers H x W).

Every failure is one :class:`~cnncompile.errors.DataError` naming the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import DataError
from .files import check_file_size
from .text import printable

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
MAX_IMAGE_PIXELS = 89_478_485  # Pillow's own decompression-bomb threshold (about 0.25 GB RGBA)
MAX_IMAGE_BYTES = 256 * 2**20
BACKGROUND = 0  # what transparent pixels become
_EXIF_ORIENTATION = 0x0112
_HIGH_DEPTH = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def is_image_name(path: Path) -> bool:
    """An image suffix and not a hidden file."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def decode_image(path: Path, shape: tuple[int, int, int], *,
                 max_pixels: int = MAX_IMAGE_PIXELS,
                 max_bytes: int = MAX_IMAGE_BYTES) -> np.ndarray:
    """One image file as uint8 pixels [H, W, C] (C is 1 or 3), 0-255, squashed to ``shape``.

    Example: ``decode_image(Path("boot.png"), (28, 28, 1))`` -> uint8 array [28, 28, 1].

    Raises:
        DataError: naming the file: not a regular file, too large, over the pixel limit,
            truncated or corrupt, or pixel values outside their format's range.
    """
    from PIL import Image, UnidentifiedImageError

    h, w, c = shape
    if c not in (1, 3):
        raise DataError(f"images give 1 or 3 channels; the model takes {list(shape)}")
    check_file_size(path, "image file", max_bytes)
    shown = printable(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's notes on damaged tags: errors say enough
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open(path, "rb") as f, Image.open(f) as img:
                if img.width * img.height > max_pixels:
                    raise _too_many_pixels(shown, img.width, img.height, max_pixels)
                pixels = _pixels(img, h, w, c, shown)
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"{shown}: the image is larger than the limit of {max_pixels:,} pixels "
                        "(a decompression bomb?)") from None
    except UnidentifiedImageError:
        raise DataError(f"{shown}: corrupt or unreadable image (no format Pillow knows)") from None
    except Exception as e:  # Pillow's decoders raise many types on damaged files
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"{shown}: corrupt or unreadable image ({detail})") from None
    return pixels.reshape(h, w, c)


def _too_many_pixels(shown: str, width: int, height: int, limit: int) -> DataError:
    return DataError(f"{shown}: {width}x{height} = {width * height:,} pixels is over the limit "
                     f"of {limit:,} (a decompression bomb?)")


def _pixels(img, h: int, w: int, c: int, shown: str) -> np.ndarray:
    """Oriented, converted and resized uint8 pixels of an open image."""
    from PIL import Image, ImageOps

    orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
    bits = _declared_bits(img)  # from the file's header: the transposed copy has none
    if img.format == "JPEG":  # decode at a reduced scale that still covers H x W
        size = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
        img.draft("RGB" if c == 3 else "L", size)
    img = ImageOps.exif_transpose(img)
    if img.mode in _HIGH_DEPTH:
        grey = Image.fromarray(_unit_scale(img, bits, shown) * np.float32(255), mode="F")
        grey = np.asarray(grey.resize((w, h), Image.BILINEAR), np.float32)
        out = np.rint(grey).clip(0, 255).astype(np.uint8)[..., None]  # clip: rounding only
        return np.repeat(out, c, axis=2) if c == 3 else out
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (BACKGROUND,) * 3 + (255,)),
                                    rgba)
    if c == 1 and img.mode not in ("1", "L", "RGB"):
        img = img.convert("RGB")  # CMYK, YCbCr, LAB, ... to L goes through RGB
    img = img.convert("RGB" if c == 3 else "L").resize((w, h), Image.BILINEAR)
    return np.asarray(img, np.uint8)


def _unit_scale(img, declared_bits: int | None, shown: str) -> np.ndarray:
    """A high-depth grey image as float32 0-1: integers over their bit depth, floats as they are.

    The bit depth is the file's own (TIFF BitsPerSample; 16 for I;16 and PNG), else the smallest
    of 16 and 32 bits that holds the values.
    """
    values = np.asarray(img)
    if img.mode == "F":
        lo, hi, full = float(np.min(values)), float(np.max(values)), 1.0
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise DataError(f"{shown}: the float image holds NaN or infinite values")
        where = "float images are read as 0-1"
    else:
        bits = declared_bits or (16 if values.size == 0 or int(values.max()) <= 65535 else 32)
        # Pillow's I is signed 32-bit: its full scale is 2**31 - 1
        lo, hi, full = float(values.min()), float(values.max()), float(2**min(bits, 31) - 1)
        where = f"{bits}-bit"
    if lo < 0 or hi > full:
        raise DataError(f"{shown}: pixel values run {lo:g}..{hi:g}, outside 0..{full:g} "
                        f"({img.mode} image, {where})")
    return (values.astype(np.float64) / full).astype(np.float32)


def _declared_bits(img) -> int | None:
    """Bits per sample as the file declares them: 16 for I;16 and PNG, TIFF's BitsPerSample."""
    if img.mode.startswith("I;16") or img.format == "PNG":
        return 16
    tags = getattr(img, "tag_v2", None)
    declared = tags.get(258) if tags is not None else None  # TIFF BitsPerSample
    if isinstance(declared, tuple):
        declared = declared[0] if declared else None
    return declared if isinstance(declared, int) and 1 <= declared <= 32 else None
