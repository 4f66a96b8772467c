"""Catalog: what creators sell and for how much.

Vocabulary: an *offering* is something a creator sells — a `membership` (a
recurring *tier*, ranked by `rank`), a `service` (work done for the buyer) or a
`product` (delivered content, with a `delivery` revealed only to buyers).
A *price* is how an offering is paid: `one_time`, or `recurring` every
`interval_count` `interval`s. Prices never change; a new amount is a new price
(avoid: plan, SKU).

Life cycle: offerings go draft → published → archived; prices are active or
archived. Archived things cannot be bought; existing subscribers keep them.

Owns: offerings, prices, the public creator page. Does not own: who bought
what (billing).
"""
