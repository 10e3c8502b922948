//! One process of the layer, built from the settings: REST client, streams, router, journal
//! and gateway.
