"""Search of the lessons index: parsing, retrieval in the database, ranking, takeaways."""
