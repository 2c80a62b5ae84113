-- model: customer_profile_features
-- grain: customer_id
-- depends: customers
-- description: Facts derived from the customer archive without exposing it: the account holder's age from
--   the birth date inside an 18-digit resident ID (NULL for organisations' credit codes and malformed IDs),
--   and whether the archive is complete enough to reach and serve the customer.
SELECT
    customer_id,
    CASE WHEN regexp_full_match(COALESCE(id_number, ''), '[1-9][0-9]{5}(19|20)[0-9]{9}[0-9Xx]')
              AND try_strptime(substr(id_number, 7, 8), '%Y%m%d') IS NOT NULL
         THEN date_sub('year', CAST(try_strptime(substr(id_number, 7, 8), '%Y%m%d') AS DATE), $as_of)
    END AS holder_age,
    (phone IS NOT NULL AND phone <> '') AND (address IS NOT NULL AND address <> '')
        AND id_number IS NOT NULL AND open_date IS NOT NULL AS archive_complete
FROM customers
