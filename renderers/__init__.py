"""Renderers: manifests in, manifests out (kustomize, jinja, plain, helm).

Pure functions of their inputs (files on disk and options), importing nothing else of this project so
they can be reused and tested alone. Every renderer returns a list of manifests (plain dicts) and
reports every failure as :class:`renderers.errors.RenderError`.
"""
