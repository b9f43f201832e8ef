"""Figures shared by the notebooks; each returns a matplotlib Figure, drawn in the book's style, and
`save` writes it for the book. One module per kind of figure; every name is exported here (`plots.save`,
`plots.mosaic`, ...)."""

from .page import (PAGE_WIDTH_IN, PAGE_WIDTH_PX, DPI, MIN_POINTS, MAX_WIDTH_IN, PHONE_WIDTH_IN, phone_points, wrap_to,
                   STYLE, style, styled, legible,
                   rendered_min_points, min_points, TEXT_PX_KEY, NAME_KEY, text_px,
                   figure_record, CONSTANT_NOTE, MAX_PNG_BYTES,
                   unannotated_constant_maps, save)
from .spectra import (swatches, MAX_LINE_LUMINANCE, line_colour, spread_labels, spectra_grid, instrument_overview,
                      reconstructions)
from .images import (MAX_TITLED, thumbnail, mosaic, generation_figure, image_grid, pigment_map, size_and_media,
                     latent_3d, pairs, as_unit_rgb, triplets, patch_error_map)
from .curves import training_curves, distributions, metric_curves, bar
from .diagrams import pipeline_figure, dve_architecture, smalluvit_architecture
from .ladder import KIND_COLOURS, budget_ladder
from .shifts import WHEN_COLOURS, shift_before_after, shifted_spectra

__all__ = ['PAGE_WIDTH_IN', 'PAGE_WIDTH_PX', 'DPI', 'MIN_POINTS', 'MAX_WIDTH_IN', 'PHONE_WIDTH_IN', 'phone_points', 'wrap_to',
           'STYLE', 'style', 'styled', 'legible',
           'rendered_min_points', 'min_points', 'TEXT_PX_KEY', 'NAME_KEY', 'text_px', 'figure_record', 'CONSTANT_NOTE', 'MAX_PNG_BYTES', 'unannotated_constant_maps', 'save', 'swatches',
           'MAX_LINE_LUMINANCE', 'line_colour', 'spread_labels', 'spectra_grid', 'instrument_overview',
           'reconstructions', 'MAX_TITLED', 'thumbnail', 'mosaic', 'generation_figure', 'image_grid', 'pigment_map',
           'size_and_media', 'latent_3d', 'pairs', 'as_unit_rgb', 'triplets', 'patch_error_map', 'training_curves',
           'distributions', 'metric_curves', 'bar', 'pipeline_figure', 'dve_architecture', 'smalluvit_architecture', 'KIND_COLOURS',
           'budget_ladder', 'WHEN_COLOURS', 'shift_before_after', 'shifted_spectra']
