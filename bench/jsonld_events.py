#!/usr/bin/env python3
# Writes ~1 KB JSON-LD SSE events shaped like `quicksilver-bench fanout --payload-kind jsonld` into
# train/ (1,000) and test/ (500) of the current directory, for offline compression experiments
# (docs/dev/benchmarks-notebook.md, "A shared context to narrow the ratio gap").
import random, os, sys
def event(r, seq):
    offers=[]
    for n,av in enumerate(["InStock","OutOfStock","PreOrder"]):
        offers.append('{"@type":"Offer","@id":"https://example.com/offers/%d","price":"%d.%02d","priceCurrency":"EUR","availability":"https://schema.org/%s","validFrom":"2026-%02d-%02dT%02d:%02d:%02dZ","seller":{"@type":"Organization","name":"Seller %d"}}' % (r.getrandbits(32), r.randrange(1,500), r.randrange(100), av, r.randrange(1,13), r.randrange(1,29), r.randrange(24), r.randrange(60), r.randrange(60), r.getrandbits(16)))
    data = '%d 0 %d {"@context":"https://schema.org","@type":"Product","@id":"https://example.com/books/%d","name":"Book %x","sku":"%016x","description":"Edition %d of a book about %s.","offers":[%s],"aggregateRating":{"@type":"AggregateRating","ratingValue":"%d.%d","reviewCount":"%d"}}' % (seq, r.getrandbits(40), r.getrandbits(32), r.getrandbits(64), r.getrandbits(64), r.randrange(1,20), r.choice(["rivers","mountains","stars","trains"]), ",".join(offers), r.randrange(1,5), r.randrange(10), r.randrange(10000))
    return "id: urn:uuid:%032x\ndata: %s\n\n" % (r.getrandbits(128), data)
r=random.Random(21)
for d in ("train","test"):
    os.makedirs(d, exist_ok=True)
    for i in range(1000 if d=="train" else 500):
        open("%s/%04d"%(d,i),"w").write(event(r,i))
