"""MuJoCo WidowX 250s tabletop speaking the Interbotix driver interface; expert; evaluation."""
