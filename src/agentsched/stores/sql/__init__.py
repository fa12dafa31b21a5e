"""What the SQL stores share: the claim-and-finish core over a dialect, and records as rows."""
