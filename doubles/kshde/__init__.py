"""A local double of ΚΣΗΔΕ, the central electronic document exchange between authorities."""
