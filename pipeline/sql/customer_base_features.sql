-- model: customer_base_features
-- grain: customer_id
-- depends: customers
-- description: Static account facts as of the snapshot: category, tariff, tenure and special-group flags.
SELECT
    customer_id,
    district_id,
    district_name,
    station,
    category,
    category = '城乡居民生活用电' AS is_residential,
    tariff_type,
    voltage,
    contract_capacity_kva,
    COALESCE(prepaid, FALSE) AS prepaid,
    COALESCE(ebill, FALSE) AS ebill,
    pay_method,
    industry,
    open_date,
    date_diff('day', open_date, $as_of) AS tenure_days,
    COALESCE(elderly_alone, FALSE) AS elderly_alone,
    COALESCE(low_income, FALSE) AS low_income,
    COALESCE(disabled, FALSE) AS disabled,
    COALESCE(hearing_impaired, FALSE) AS hearing_impaired,
    COALESCE(foreign_language, FALSE) AS foreign_language,
    phone IS NOT NULL AS has_phone
FROM customers
