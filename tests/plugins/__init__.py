"""Small plugin modules the tests load through extensions."""
