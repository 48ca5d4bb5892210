"""The spec's (§3) Alipay notify, signed with the WeChat Pay Go SDK's published test key: the same
bytes as Tests/SluiceAuthTests/SortedFieldSignatureTests.swift uses."""

ALIPAY_NOTIFY = (
    "app_id=2015102700040153&body=%E5%A4%A7%E4%B9%90%E9%80%8F2.1&buyer_id=2088102116773037&char"
    "set=utf-8&gmt_close=2016-07-19+14%3A10%3A46&gmt_create=2016-07-19+14%3A10%3A44&gmt_payment"
    "=2016-07-19+14%3A10%3A47&notify_id=4a91b7a78a503640467525113fb7d8bg8e&notify_time=2016-07-"
    "19+14%3A10%3A49&notify_type=trade_status_sync&out_trade_no=0719141034-6418&refund_fee=0.00"
    "&seller_id=2088102119685838&subject=%E5%A4%A7%E4%B9%90%E9%80%8F2.1&total_amount=2.00&trade"
    "_no=2016071921001003030200089909&trade_status=TRADE_SUCCESS&version=1.0&sign_type=RSA2&sig"
    "n=gN8LAZ4pWwtaBdLdQJGcwFrGc5LqMdrkYe1ttItJWfHSiewwIr7Y3PMnNwVmjbrRzFej72zUskeqbw7%2F4fqDtS"
    "kVW71ptz%2B9MlemLeTbSdUsg%2B%2Bw1bInj2odbSi6s02MhPT9kNjCAXeyzYgmjDuWigwixKnzZoTeWOdTN%2BZ7"
    "GL4NZ6w32KlAMyWNiZYqSjvtx5qlFmF%2FQ00Jox%2FbbyFoO1yExFU17mKlzhfdIAmO2Z%2F0Z%2FXrqfvutUuLOb"
    "D1tZx0oNvO0nRz1pbuWsOhF4t4macvQGW7MchK4x%2FjfYv4ZmZJFIO863Q1ZQE%2FgPRHWv3SM0NtVZaqRP3KfWTP"
    "Rs1BAQ%3D%3D"
)
