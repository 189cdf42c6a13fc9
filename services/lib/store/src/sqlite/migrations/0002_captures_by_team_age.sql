
    CREATE INDEX captures_by_team_age ON captures (team_id, received_at);
    