-- Every flush updates each arm it learned about in place (pulls = pulls + delta). Half-empty
-- pages let PostgreSQL keep the new row version on the same page without touching the primary
-- key index (a HOT update): a flush of 1,000 arms' deltas took about half the server time in
-- the measurement that motivated this (bench/bandits.py).
ALTER TABLE routing_arms SET (fillfactor = 50);
