"""Data contracts: encoding, event kinds, vocabularies, input files, Kafka and Schema Registry."""
