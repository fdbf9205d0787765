"""`cnncompile sample-data`: a small image folder in the flowers layout, made offline."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import command


@command("sample-data")
def sample_data(
    out: Path = typer.Argument(..., help="The folder to create (it must not exist)."),
    classes: str = typer.Option(",".join(("daisy", "dandelion", "rose", "sunflower", "tulip")),
                                "--classes", help="Class names, comma-separated: one subfolder "
                                "and one kind of shape each."),
    per_class: int = typer.Option(60, "--per-class", help="Images per class (1-10000)."),
    size: int = typer.Option(64, "--size", help="Image side in pixels (16-512)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed, the same images."),
) -> None:
    """Make a folder of coloured-shape images, one subfolder per class, to try every command.

    Each class is one kind of shape (disc, ring, square, cross, triangle, ...) drawn at a random
    place, size and shade on a noisy background, saved as PNG in the layout `train --data`
    reads (OUT/CLASS/000.png, ...). Nothing is downloaded; the folder is written whole or not at
    all, and an existing folder is never replaced.

    Example: `cnncompile sample-data flowers/ && cnncompile train first.yaml --data flowers/`
    """
    from ..data.samples import make_shape_folder

    names = tuple(c.strip() for c in classes.split(","))
    n = make_shape_folder(out, names, per_class=per_class, size=size, seed=seed)
    typer.echo(f"wrote {out}/: {n} images, {len(names)} classes of {per_class} "
               f"({', '.join(names)}), {size}x{size} RGB PNG")
