select
    id as product_id,
    sku,
    name as product_name,
    price,
    active as is_active,
    updated_at
from {{ source('shop_db', 'products') }}
