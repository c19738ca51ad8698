"""Round trips and bad input for dipbatch.io.images, on real files written and read by real codecs."""

from __future__ import annotations

import builtins
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage
from PIL.PngImagePlugin import PngInfo

from dipbatch.errors import DipbatchError
from dipbatch.io import images as imageio
from dipbatch.io.images import SUPPORTED_SUFFIXES, Source, image_size, read_image, write_image

fits = pytest.importorskip("astropy.io.fits")

RNG = np.random.default_rng(7)
ICC = b"not-a-real-icc-profile" * 20


def _u8(*shape):
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def _u16(*shape):
    return RNG.integers(0, 65536, shape, dtype=np.uint16)


def _exif() -> bytes:
    exif = PILImage.Exif()
    exif[0x010E] = "a test scene"
    exif[0x0131] = "dipbatch tests"
    return exif.tobytes()


def _roundtrip(path: Path, out: Path, **kw):
    img = read_image(path)
    write_image(out, img.data, img.source, **kw)
    return img, read_image(out)


# ------------------------------------------------------------------------------------ PNG


@pytest.mark.parametrize("mode,channels", [("L", 1), ("LA", 2), ("RGB", 3), ("RGBA", 4)])
def test_png8_roundtrip_every_layout(tmp_path, mode, channels):
    arr = _u8(9, 11, channels)
    PILImage.fromarray(arr[..., 0] if channels == 1 else arr, mode).save(tmp_path / "a.png")
    img, back = _roundtrip(tmp_path / "a.png", tmp_path / "b.png")
    colour = arr[..., : 1 if channels < 3 else 3]
    assert img.source.dtype == "uint8" and img.source.value_range == (0.0, 255.0)
    assert img.source.layout == {1: "gray", 2: "gray+alpha", 3: "rgb", 4: "rgb+alpha"}[channels]
    assert img.data.dtype == np.float32 and img.data.shape == (colour.shape[2], 9, 11)
    np.testing.assert_array_equal(img.data, np.moveaxis(colour, -1, 0) / np.float32(255))
    if channels in (2, 4):
        np.testing.assert_array_equal(img.source.alpha, arr[..., -1])
    # our own encoder's file, decoded by Pillow, holds exactly the original samples
    np.testing.assert_array_equal(np.asarray(PILImage.open(tmp_path / "b.png")).reshape(arr.shape),
                                  arr)
    np.testing.assert_array_equal(back.data, img.data)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png16_roundtrip_bit_exact(tmp_path, channels):
    arr = _u16(13, 17, channels)
    if channels == 2:  # OpenCV cannot write gray+alpha: write it with our encoder, check it below
        write_image(tmp_path / "a.png", np.moveaxis(arr[..., :1], -1, 0) / np.float32(65535),
                    Source("x", "png", "uint16", (0, 65535), "gray+alpha", alpha=arr[..., 1]))
    else:
        cv2.imwrite(str(tmp_path / "a.png"), arr[..., [2, 1, 0, 3][:channels]] if channels > 1
                    else arr[..., 0])
    img, back = _roundtrip(tmp_path / "a.png", tmp_path / "b.png")
    colour = arr[..., : 1 if channels < 3 else 3]
    assert img.source.dtype == "uint16" and img.source.value_range == (0.0, 65535.0)
    np.testing.assert_array_equal(img.data, (np.moveaxis(colour, -1, 0) / 65535).astype(np.float32))
    decoded = cv2.imread(str(tmp_path / "b.png"), cv2.IMREAD_UNCHANGED)
    assert decoded.dtype == np.uint16
    if channels == 1:
        np.testing.assert_array_equal(decoded, arr[..., 0])
    elif channels == 2:  # OpenCV expands gray+alpha to BGRA
        np.testing.assert_array_equal(decoded[..., [0, 3]], arr)
    else:
        np.testing.assert_array_equal(decoded[..., [2, 1, 0, 3][:channels]], arr)
    if channels in (2, 4):
        assert img.source.alpha.dtype == np.uint16
        np.testing.assert_array_equal(back.source.alpha, arr[..., -1])
    np.testing.assert_array_equal(back.data, img.data)


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_png_encoder_is_read_right_by_other_decoders(tmp_path, dtype):
    """Noise, a smooth scene and a diagonal ramp make the encoder use all five PNG filters."""
    from dipbatch.physics.synthetic import scene

    top = np.iinfo(dtype).max
    smooth = np.moveaxis((scene(48, 40, 3) * top).round(), 0, -1)
    yy, xx = np.mgrid[0:16, 0:40]
    ramp = np.repeat(((xx - yy) * 7 % 256 * (top // 255))[..., None], 3, axis=-1)
    noise = RNG.integers(0, top + 1, (8, 40, 3))
    arr = np.concatenate([noise, smooth[:24], ramp, smooth[24:]]).astype(dtype)
    src = Source("x", "png", dtype, (0, top), "rgb")
    write_image(tmp_path / "a.png", np.moveaxis(arr, -1, 0) / np.float32(top), src)
    if dtype == "uint8":
        np.testing.assert_array_equal(np.asarray(PILImage.open(tmp_path / "a.png")), arr)
    else:
        decoded = cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(decoded[..., ::-1], arr)


def test_every_uint16_value_survives(tmp_path):
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    tifffile.imwrite(tmp_path / "all.tif", values)
    _, back = _roundtrip(tmp_path / "all.tif", tmp_path / "all.png")
    np.testing.assert_array_equal(np.asarray(PILImage.open(tmp_path / "all.png")), values)
    write_image(tmp_path / "again.tif", back.data, back.source)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "again.tif"), values)


def test_png_palette_and_metadata(tmp_path):
    arr = _u8(8, 8, 3)
    im = PILImage.fromarray(arr).convert("P", palette=PILImage.Palette.ADAPTIVE, colors=16)
    info = PngInfo()
    info.add_text("Description", "a palette scene")
    info.add_itxt("Author", "Zoë")
    im.save(tmp_path / "p.png", icc_profile=ICC, exif=_exif(), dpi=(300, 150), pnginfo=info)
    img, back = _roundtrip(tmp_path / "p.png", tmp_path / "q.png")
    expected = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(np.moveaxis(img.data, 0, -1) * 255, expected.astype(np.float32))
    for meta in (img.source.metadata, back.source.metadata):
        assert meta["icc_profile"] == ICC
        assert meta["exif"] == _exif()
        assert meta["description"] == "a palette scene"
        assert meta["text"] == {"Author": "Zoë"}
        assert meta["resolution"] == pytest.approx((300, 150), abs=0.02)
    reread = PILImage.open(tmp_path / "q.png")  # Pillow agrees on what our encoder wrote
    assert reread.info["icc_profile"] == ICC and reread.getexif()[0x010E] == "a test scene"
    assert reread.info["dpi"] == pytest.approx((300, 150), abs=0.02)


def test_png_to_tiff_keeps_alpha_and_metadata(tmp_path):
    arr = _u8(6, 5, 4)
    PILImage.fromarray(arr, "RGBA").save(tmp_path / "a.png", icc_profile=ICC, dpi=(72, 72),
                                         pnginfo=_described("made by a test"))
    img = read_image(tmp_path / "a.png")
    write_image(tmp_path / "b.tif", img.data, img.source)
    with tifffile.TiffFile(tmp_path / "b.tif") as tif:
        page = tif.pages[0]
        np.testing.assert_array_equal(page.asarray(), arr)
        assert [int(e) for e in page.extrasamples] == [2]  # unassociated alpha, as in PNG
        assert page.iccprofile == ICC and page.description == "made by a test"
    back = read_image(tmp_path / "b.tif")
    assert back.source.alpha is not None and back.source.alpha.tobytes() == arr[..., 3].tobytes()
    assert back.source.metadata["resolution"] == pytest.approx((72, 72), abs=0.01)
    assert back.source.metadata["resolution_unit"] == "inch"


def _described(text: str) -> PngInfo:
    info = PngInfo()
    info.add_text("Description", text)
    return info


# ------------------------------------------------------------------------------------ JPEG


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_jpeg_roundtrip(tmp_path, mode):
    from dipbatch.physics.synthetic import scene

    clean = (scene(32, 40, 1 if mode == "L" else 3) * 255).round().astype(np.uint8)
    arr = clean[0] if mode == "L" else np.moveaxis(clean, 0, -1)
    PILImage.fromarray(arr).save(tmp_path / "a.jpg", quality=95, subsampling=0, icc_profile=ICC,
                                 exif=_exif(), dpi=(240, 240), comment=b"a comment")
    img, back = _roundtrip(tmp_path / "a.jpg", tmp_path / "b.jpeg")
    decoded = np.asarray(PILImage.open(tmp_path / "a.jpg"))
    np.testing.assert_array_equal(img.data * np.float32(255),
                                  (decoded[None] if mode == "L" else np.moveaxis(decoded, -1, 0)))
    assert img.source.format == "jpeg" and img.source.layout == ("gray" if mode == "L" else "rgb")
    assert np.abs(img.data - clean / 255).mean() < 0.02
    assert np.abs(back.data - img.data).mean() < 0.002  # re-encoded at quality 95, 4:4:4
    meta = back.source.metadata
    assert meta["icc_profile"] == ICC and meta["exif"] == _exif()
    assert meta["description"] == "a comment" and meta["resolution"] == (240.0, 240.0)


def test_jpeg_drops_alpha_and_refuses_16_bit(tmp_path):
    arr = _u8(6, 7, 4)
    PILImage.fromarray(arr, "RGBA").save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    write_image(tmp_path / "b.jpg", img.data, img.source)
    assert PILImage.open(tmp_path / "b.jpg").mode == "RGB"
    img16 = read_image(_png16(tmp_path))
    with pytest.raises(DipbatchError) as err:
        write_image(tmp_path / "c.jpg", img16.data, img16.source)
    assert "uint16" in err.value.problem and "uint8" in err.value.problem
    assert "--output-dtype" in err.value.problem
    assert not (tmp_path / "c.jpg").exists()
    write_image(tmp_path / "c.jpg", img16.data, img16.source, dtype="uint8")
    assert np.abs(read_image(tmp_path / "c.jpg").data - img16.data).max() < 0.15


def _png16(tmp_path: Path) -> Path:
    arr = (np.linspace(0, 65535, 5 * 6 * 3).reshape(5, 6, 3)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "rgb16.png"), arr[..., ::-1])
    return tmp_path / "rgb16.png"


# ------------------------------------------------------------------------------------ TIFF


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
@pytest.mark.parametrize("channels", [1, 3, 4, 5])
def test_tiff_roundtrip(tmp_path, dtype, channels):
    if dtype == "float32":
        arr = RNG.uniform(0, 1, (7, 9, channels)).astype(np.float32)
    else:
        arr = RNG.integers(0, np.iinfo(dtype).max + 1, (7, 9, channels)).astype(dtype)
    photometric = "rgb" if channels == 3 else "minisblack"
    tifffile.imwrite(tmp_path / "a.tif", arr[..., 0] if channels == 1 else arr,
                     photometric=photometric, planarconfig="contig" if channels > 1 else None)
    img, back = _roundtrip(tmp_path / "a.tif", tmp_path / "b.tiff")
    assert img.source.dtype == dtype and img.data.shape == (channels, 7, 9)
    assert img.source.layout == {1: "gray", 3: "rgb"}.get(channels, "multi")
    assert img.source.alpha is None
    lo, hi = img.source.value_range
    np.testing.assert_allclose(lo + img.data * (hi - lo), np.moveaxis(arr, -1, 0), rtol=1e-6)
    out = tifffile.imread(tmp_path / "b.tiff")
    assert out.dtype == np.dtype(dtype)
    if dtype == "float32":
        np.testing.assert_allclose(out.reshape(arr.shape), arr, atol=2e-7)
    else:
        np.testing.assert_array_equal(out.reshape(arr.shape), arr)
    assert back.source.layout == img.source.layout


def test_tiff_planar_rgba_alpha_and_metadata(tmp_path):
    arr = _u16(4, 8, 6)
    tifffile.imwrite(tmp_path / "a.tif", arr, photometric="rgb", planarconfig="separate",
                     extrasamples=["assocalpha"], description="Planar scene",
                     resolution=(300, 200), resolutionunit="CENTIMETER", iccprofile=ICC,
                     metadata=None)
    img, back = _roundtrip(tmp_path / "a.tif", tmp_path / "b.tif")
    assert img.source.layout == "rgb+alpha" and img.source.dtype == "uint16"
    np.testing.assert_array_equal(img.source.alpha, arr[3])
    np.testing.assert_array_equal(img.data * np.float32(65535), arr[:3].astype(np.float32))
    with tifffile.TiffFile(tmp_path / "b.tif") as tif:
        page = tif.pages[0]
        np.testing.assert_array_equal(np.moveaxis(page.asarray(), -1, 0), arr)
        assert [int(e) for e in page.extrasamples] == [1]  # still associated alpha
    for meta in (img.source.metadata, back.source.metadata):
        assert meta["description"] == "Planar scene" and meta["icc_profile"] == ICC
        assert meta["resolution"] == (300.0, 200.0) and meta["resolution_unit"] == "cm"


def test_tiff_float_range_kept_without_clipping_and_nan(tmp_path):
    arr = np.linspace(-3, 1200, 6 * 5, dtype=np.float32).reshape(6, 5)
    arr[2, 2] = np.nan
    tifffile.imwrite(tmp_path / "a.tif", arr)
    img, _ = _roundtrip(tmp_path / "a.tif", tmp_path / "b.tif")
    assert img.source.value_range == (-3.0, 1200.0)
    assert np.isnan(img.data[0, 2, 2]) and np.nanmax(img.data) == 1.0
    write_image(tmp_path / "c.tif", img.data * 2 - 0.5, img.source)  # values outside [0,1]
    out = tifffile.imread(tmp_path / "c.tif")
    expected = -3 + (img.data[0].astype(np.float64) * 2 - 0.5) * 1203
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-3)
    assert (np.nanmin(out), np.nanmax(out)) == (-604.5, 1801.5) and np.isnan(out[2, 2])
    np.testing.assert_allclose(tifffile.imread(tmp_path / "b.tif"), arr, rtol=1e-6, atol=1e-4)


def test_tiff_lzw_needs_imagecodecs_or_reads(tmp_path):
    arr = _u8(5, 6, 3)
    PILImage.fromarray(arr).save(tmp_path / "lzw.tif", compression="tiff_lzw")
    try:
        img = read_image(tmp_path / "lzw.tif")
    except DipbatchError as err:
        assert "imagecodecs" in err.problem and "LZW" in err.problem
    else:
        np.testing.assert_array_equal(img.data * np.float32(255), np.moveaxis(arr, -1, 0))


# ------------------------------------------------------------------------------------ FITS


def test_fits_uint16_bit_exact_and_history(tmp_path):
    arr = _u16(6, 7)
    hdu = fits.PrimaryHDU(arr)
    hdu.header["OBJECT"] = "M31"
    hdu.writeto(tmp_path / "a.fits")
    img, back = _roundtrip(tmp_path / "a.fits", tmp_path / "b.fits", history="denoised by dipbatch")
    assert img.source.dtype == "uint16" and img.source.value_range == (0.0, 65535.0)
    assert img.source.metadata["fits_header"]["OBJECT"] == "M31"
    with fits.open(tmp_path / "b.fits") as out:
        assert out[0].data.dtype == np.uint16 and out[0].header["BZERO"] == 32768
        np.testing.assert_array_equal(out[0].data, arr)
        assert out[0].header["OBJECT"] == "M31"
        assert "denoised by dipbatch" in str(out[0].header["HISTORY"])
    np.testing.assert_array_equal(back.data, img.data)


def test_fits_int16_bscale_keeps_raw_values(tmp_path):
    raw = RNG.integers(-32768, 32768, (5, 6), dtype=np.int16)
    raw[0, 0] = -1
    hdu = fits.PrimaryHDU(raw, do_not_scale_image_data=True)
    hdu.header.update(BSCALE=0.25, BZERO=1000.0, BLANK=-1)
    hdu.writeto(tmp_path / "a.fit")
    img, _ = _roundtrip(tmp_path / "a.fit", tmp_path / "b.fts")
    assert img.source.dtype == "int16"
    assert img.source.value_range == (1000 - 0.25 * 32768, 1000 + 0.25 * 32767)
    assert np.isnan(img.data[0, 0, 0])
    with fits.open(tmp_path / "a.fit") as f:  # astropy's own scaling agrees with ours
        lo, hi = img.source.value_range
        np.testing.assert_allclose(lo + img.data[0] * (hi - lo), f[0].data, rtol=1e-6)
    with fits.open(tmp_path / "b.fts", do_not_scale_image_data=True) as out:
        np.testing.assert_array_equal(out[0].data, raw)
        assert (out[0].header["BSCALE"], out[0].header["BZERO"]) == (0.25, 1000)
        assert out[0].header["BLANK"] == -1


def test_fits_big_endian_float_cube_in_extension(tmp_path):
    cube = RNG.normal(100, 20, (3, 5, 4)).astype(">f4")
    cube[1, 2, 3] = np.nan
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(cube, name="SCI"),
                         fits.ImageHDU(np.zeros((2, 2), np.float32), name="ERR")])
    hdul.writeto(tmp_path / "a.fits.gz")
    img = read_image(tmp_path / "a.fits.gz")
    assert img.data.shape == (3, 5, 4) and img.source.layout == "multi"
    assert img.source.metadata["fits_hdu"] == 1 and img.source.dtype == "float32"
    lo, hi = img.source.value_range
    assert (lo, hi) == (float(np.nanmin(cube)), float(np.nanmax(cube)))
    np.testing.assert_allclose(lo + img.data * (hi - lo), cube.astype(np.float64), rtol=1e-6)
    assert np.isnan(img.data[1, 2, 3])
    assert read_image(tmp_path / "a.fits.gz", hdu="ERR").data.shape == (1, 2, 2)
    assert image_size(tmp_path / "a.fits.gz") == (5, 4)
    write_image(tmp_path / "b.fits.gz", img.data, img.source, history="x")
    assert (tmp_path / "b.fits.gz").read_bytes()[:2] == b"\x1f\x8b"  # gzip, as the suffix says
    with fits.open(tmp_path / "b.fits.gz") as out:
        np.testing.assert_allclose(out[0].data, cube, rtol=1e-6)
        assert np.isnan(out[0].data[1, 2, 3]) and out[0].header["EXTNAME"] == "SCI"
    with pytest.raises(DipbatchError, match="no HDU 'NOPE'"):
        read_image(tmp_path / "a.fits.gz", hdu="NOPE")
    with pytest.raises(DipbatchError, match="holds no image data"):
        read_image(tmp_path / "a.fits.gz", hdu=0)


def test_fits_to_png_preview_and_float_override(tmp_path):
    arr = np.array([[0, 100], [300, 400]], np.float32)
    fits.PrimaryHDU(arr).writeto(tmp_path / "a.fits")
    img = read_image(tmp_path / "a.fits")
    write_image(tmp_path / "p.png", img.data, img.source, dtype="uint8")  # stretched to 0..255
    np.testing.assert_array_equal(np.asarray(PILImage.open(tmp_path / "p.png")),
                                  [[0, 64], [191, 255]])
    u16 = read_image(_png16(tmp_path))
    write_image(tmp_path / "f.tif", u16.data, u16.source, dtype="float32")  # values kept
    expected = cv2.imread(str(_png16(tmp_path)), cv2.IMREAD_UNCHANGED)[..., ::-1]
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "f.tif"), expected.astype(np.float32))


def test_dtype_override_rescales_integers_and_alpha(tmp_path):
    arr = _u16(5, 6, 4)
    cv2.imwrite(str(tmp_path / "a.png"), arr[..., [2, 1, 0, 3]])
    img = read_image(tmp_path / "a.png")
    write_image(tmp_path / "b.png", img.data, img.source, dtype="uint8")
    out = np.asarray(PILImage.open(tmp_path / "b.png"))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.rint(arr / 257).astype(np.uint8))
    with pytest.raises(DipbatchError, match=r"PNG cannot hold float32.*--output-dtype"):
        write_image(tmp_path / "c.png", img.data, img.source, dtype="float32")


def test_fits_without_astropy_says_which_extra(tmp_path, monkeypatch):
    fits.PrimaryHDU(np.zeros((2, 2), np.float32)).writeto(tmp_path / "a.fits")
    monkeypatch.setitem(sys.modules, "astropy.io", None)
    monkeypatch.setitem(sys.modules, "astropy.io.fits", None)
    with pytest.raises(DipbatchError, match=r"pip install 'dipbatch\[astro\]'"):
        read_image(tmp_path / "a.fits")


# ------------------------------------------------------------------------------ bad input


def _expect(path, problem):
    for call in (read_image, image_size):
        with pytest.raises(DipbatchError) as err:
            call(path)
        assert problem in err.value.problem, err.value.problem
        assert err.value.where == str(path)


def test_missing_folder_empty_and_unsupported(tmp_path):
    _expect(tmp_path / "nope.png", "no such file")
    (tmp_path / "dir.png").mkdir()
    _expect(tmp_path / "dir.png", "is a folder, not an image file")
    (tmp_path / "empty.tif").write_bytes(b"")
    _expect(tmp_path / "empty.tif", "empty file")
    (tmp_path / "a.bmp").write_bytes(b"BM" + bytes(100))
    _expect(tmp_path / "a.bmp", "unsupported file type '.bmp'; supported: ")
    (tmp_path / "b.png").write_bytes(b"BM" + bytes(100))
    _expect(tmp_path / "b.png", "unsupported contents")
    assert {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".fits", ".fit", ".fts",
            ".fits.gz"} <= SUPPORTED_SUFFIXES


@pytest.mark.parametrize("name", ["a.png", "b16.png", "c.jpg", "d.tif", "e.fits"])
def test_truncated_files(tmp_path, name):
    arr = RNG.integers(0, 255, (64, 64, 3)).astype(np.uint8)
    full = tmp_path / ("full" + Path(name).suffix)
    if name == "a.png" or name == "c.jpg":
        PILImage.fromarray(arr).save(full)
    elif name == "b16.png":
        cv2.imwrite(str(full), arr.astype(np.uint16) * 257)
    elif name == "d.tif":
        tifffile.imwrite(full, arr)
    else:
        fits.PrimaryHDU(arr.astype(np.float32)).writeto(full)
    data = full.read_bytes()
    (tmp_path / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(DipbatchError, match="truncated or corrupt image"):
        read_image(tmp_path / name)


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "secret.png"
    PILImage.fromarray(_u8(3, 3)).save(path)
    real_open = builtins.open

    def deny(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    _expect(path, "permission denied")


def test_write_errors(tmp_path):
    src = Source("x", "tiff", "uint8", (0, 255), "multi")
    data = np.zeros((5, 4, 4), np.float32)
    with pytest.raises(DipbatchError, match="1 \\(gray\\) or 3 \\(RGB\\) colour channels, not 5"):
        write_image(tmp_path / "a.png", data, src)
    with pytest.raises(DipbatchError, match=r"unsupported file type '\.bmp'"):
        write_image(tmp_path / "a.bmp", data, src)
    with pytest.raises(DipbatchError, match="output folder does not exist"):
        write_image(tmp_path / "no" / "a.tif", data, src)
    write_image(tmp_path / "a.tif", data + 0.5, src)
    assert tifffile.imread(tmp_path / "a.tif").shape == (4, 4, 5)
    assert [p.name for p in tmp_path.iterdir()] == ["a.tif"]  # no temporary files left


def test_image_size_matches_read(tmp_path):
    PILImage.fromarray(_u8(11, 13, 3)).save(tmp_path / "a.png")
    PILImage.fromarray(_u8(12, 14)).save(tmp_path / "b.jpg")
    tifffile.imwrite(tmp_path / "c.tif", _u16(3, 15, 16), planarconfig="separate",
                     photometric="rgb")
    fits.PrimaryHDU(np.zeros((1, 17, 18), np.float32)).writeto(tmp_path / "d.fits")
    sizes = {"a.png": (11, 13), "b.jpg": (12, 14), "c.tif": (15, 16), "d.fits": (17, 18)}
    for name, size in sizes.items():
        assert image_size(tmp_path / name) == size
        img = read_image(tmp_path / name)
        assert img.source.size == size and img.data.shape[1:] == size
    assert imageio.image_size is image_size
