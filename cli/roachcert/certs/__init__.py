"""Client certificates: keys made locally, issuance and delivery as pairs, renewal, the delivered
inventory, driver layouts, listing, and the TLS check."""
