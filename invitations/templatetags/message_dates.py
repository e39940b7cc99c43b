"""Dates in a message's sentence, as its language writes them (`2. März 2026`, `2 marzo 2026`)."""

from django import template

from invitations.languages import sentence_date

register = template.Library()


@register.filter
def in_sentence(value):
    """A date as the active language writes it inside a sentence (invitations.languages)."""
    return sentence_date(value) if value else ""
